"""Tags moved registry to registry with skopeo: `image push` needs no Docker engine.

`image build` pushes what it built under a build tag and hands on ``repository@digest``; the push
job, which may run on another agent (dind, a Kubernetes executor, another Jenkins node), points
each release tag at that digest with ``skopeo copy --preserve-digests``. Within one registry that
uploads no layer: skopeo finds every blob present and puts only the manifest.

Credentials (LEPTON_REGISTRY_USER / LEPTON_REGISTRY_PASSWORD) go into a temporary auth file
readable by this user only, never into argv; without them skopeo reads the docker config
(``~/.docker/config.json``) as the Docker engine would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lepton_ci.errors import ServerError
from lepton_ci.image import docker_api

LOOPBACK = ("127.", "localhost", "[::1]")


def available() -> bool:
    return shutil.which("skopeo") is not None


def registry_host(reference: str) -> str:
    """``host[:port]`` of ``host[:port]/path[:tag|@digest]``."""
    return reference.split("/", 1)[0]


def tls_verify(reference: str) -> bool:
    """As the Docker engine: plain HTTP only for a registry on loopback."""
    return not registry_host(reference).startswith(LOOPBACK)


@contextmanager
def auth_file(registry: str, auth: dict[str, str] | None) -> Iterator[list[str]]:
    """``--authfile PATH`` holding ``auth`` for ``registry`` (0600, removed after); [] without."""
    if not auth:
        yield []
        return
    pair = f"{auth['username']}:{auth['password']}".encode()
    content = {"auths": {registry: {"auth": base64.b64encode(pair).decode()}}}
    with tempfile.TemporaryDirectory(prefix="lepton-skopeo-") as tmp:
        path = Path(tmp) / "auth.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(content, out)
        yield ["--authfile", str(path)]


def retag(source: str, target: str, *, auth: dict[str, str] | None, attempts: int = 4) -> str:
    """Point ``target`` (``repo:tag``) at ``source`` (``repo@digest``); the digest it now has.

    Raises ServerError (credentials redacted) when skopeo fails or the digest would change."""
    hidden = docker_api.secrets(auth)
    verify = str(tls_verify(target)).lower()
    with auth_file(registry_host(target), auth) as auth_args, tempfile.TemporaryDirectory() as tmp:
        digest_file = Path(tmp) / "digest"
        argv = [
            "skopeo",
            "copy",
            "--preserve-digests",
            "--retry-times",
            str(attempts - 1),
            f"--src-tls-verify={verify}",
            f"--dest-tls-verify={verify}",
            "--digestfile",
            str(digest_file),
            *auth_args,
            f"docker://{source}",
            f"docker://{target}",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0:
            detail = docker_api.redact(proc.stderr.strip()[-1500:], hidden)
            raise ServerError(f"skopeo copy {source} -> {target} failed: {detail}")
        digest = digest_file.read_text().strip()
    expected = source.rpartition("@")[2]
    if digest != expected:
        raise ServerError(f"{target} was pushed as {digest}, expected {expected}")
    return digest
