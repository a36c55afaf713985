"""Registry credentials go through the Docker API only: a canary password must never show up
in output, files or exceptions, whether the push succeeds or the registry rejects it. Also:
transient registry errors are retried, permanent ones are not."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from lepton_ci.dotenv import read_dotenv, write_dotenv
from lepton_ci.errors import ExitCode, ServerError
from lepton_ci.image import docker_api, push_image
from lepton_ci.layout import LAYOUT
from lepton_ci.netutil import free_port
from lepton_ci.spec.loader import load_spec
from tests.services import REPO

CANARY = "canary-" + uuid.uuid4().hex
WRONG = "wrong-canary-" + uuid.uuid4().hex
USER = "ci-robot"


def _bcrypt(password: str) -> str:
    crypt = pytest.importorskip("crypt", reason="needs the crypt module for a bcrypt htpasswd")
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("libc crypt has no bcrypt")
    return hashed


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory, services_env) -> str:
    """docker-registry with htpasswd auth on a free loopback port."""
    home = tmp_path_factory.mktemp("auth-registry")
    (home / "htpasswd").write_text(f"{USER}:{_bcrypt(CANARY)}\n")
    port = free_port()
    (home / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {home / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: test, path: {home / 'htpasswd'}}}}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(home / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                break
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def project(tmp_path: Path, auth_registry: str, docker_client) -> Path:
    """A spec pointing at the auth registry and a tiny (one-file) built image to push."""
    (tmp_path / "lepton.yaml").write_text(
        "version: 1\nproject: {name: canary, model: canary}\n"
        'train: {entrypoint: "a.b:c"}\nevaluate: {entrypoint: "a.b:d"}\n'
        f'image: {{registry: "{auth_registry}", repository: canary/tiny}}\n'
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ref = f"{auth_registry}/canary/tiny:v1"
    docker_client.api.import_image_from_data(
        buffer.getvalue(), repository=ref.rsplit(":", 1)[0], tag="v1"
    )
    write_dotenv(tmp_path / str(LAYOUT.image_build_env), {"LEPTON_IMAGE_TAGS": ref})
    yield tmp_path
    docker_client.images.remove(ref, force=True)


def _push_cli(project: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEPTON_REGISTRY_USER": USER,
        "LEPTON_REGISTRY_PASSWORD": password,
        "HOME": str(project / "home"),
        "CI": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "lepton_ci", "image", "push", "--no-record"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _files_mentioning(root: Path, secret: str) -> list[str]:
    return [
        str(path)
        for path in root.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


@pytest.mark.docker
@pytest.mark.slow
def test_push_with_credentials_from_the_environment_never_leaks_them(project: Path) -> None:
    ok = _push_cli(project, CANARY)
    assert ok.returncode == 0, ok.stderr
    env = read_dotenv(project / str(LAYOUT.image_env))
    assert env["LEPTON_IMAGE_DIGEST"].startswith("sha256:")

    rejected = _push_cli(project, WRONG)
    assert rejected.returncode == ExitCode.SERVER
    assert "unauthorized" in rejected.stderr.lower() or "authentication" in rejected.stderr.lower()
    assert "Traceback" not in rejected.stderr
    assert "attempts" not in rejected.stderr  # a permanent error is not retried

    for secret in (CANARY, WRONG):
        for output in (ok.stdout, ok.stderr, rejected.stdout, rejected.stderr):
            assert secret not in output
        assert _files_mentioning(project, secret) == []
        engine_log = REPO / ".ci" / ".cache" / "dockerd.log"  # our dockerd, when we started it
        if engine_log.is_file():
            assert secret.encode() not in engine_log.read_bytes()


@pytest.mark.docker
@pytest.mark.slow
def test_rejected_push_exception_carries_no_secret(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEPTON_REGISTRY_USER", USER)
    monkeypatch.setenv("LEPTON_REGISTRY_PASSWORD", WRONG)
    monkeypatch.setenv("HOME", str(project / "home"))
    with pytest.raises(ServerError) as caught:
        push_image(
            load_spec(project / "lepton.yaml"),
            root=project,
            run_dir=project / ".lepton/run",
            record=False,
            backoff=0.01,
        )
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value.args)
    assert WRONG not in text
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_transient_registry_errors_are_retried_with_backoff(monkeypatch) -> None:
    calls, delays = [], []
    monkeypatch.setattr(docker_api.time, "sleep", delays.append)

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ServerError(
                "push failed: received unexpected HTTP status: 503 Service Unavailable"
            )
        return "sha256:ok"

    assert docker_api.with_retries(flaky, what="push", backoff=0.5) == "sha256:ok"
    assert len(calls) == 3
    assert delays == [0.5, 1.0]  # exponential backoff


@pytest.mark.parametrize(
    "message",
    [
        "unauthorized: authentication required",
        "manifest invalid: manifest invalid",
        "name unknown: repository name not known to registry (404)",
    ],
)
def test_permanent_registry_errors_fail_at_once_redacted(message: str) -> None:
    calls = []

    def rejected() -> None:
        calls.append(1)
        raise ServerError(f"push failed: {message} for token {CANARY}")

    with pytest.raises(ServerError) as caught:
        docker_api.with_retries(rejected, what="push", hidden=[CANARY], backoff=0.01)
    assert len(calls) == 1
    assert message in str(caught.value) and CANARY not in str(caught.value)
