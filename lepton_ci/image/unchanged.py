"""Nothing changed, nothing built: an image build is a no-op when the engine already holds an
image built from the same inputs.

The inputs are the build context (the repository files the .dockerignore keeps, the rendered
Dockerfile, the model directory and the lepton-ci wheel, as :mod:`lepton_ci.image.context`
writes them: content only, no mtimes or owners), the build arguments, and the base image: its
image id where the engine has it, else its reference (a base tag that moved on a registry the
engine has not pulled from is then not noticed: ``--no-cache`` rebuilds). The model's manifest
counts by its identity (the ``LEPTON_MANIFEST_DIGEST`` build argument: without the timings and
timestamps a step-cache hit rewrites), not by its bytes, so a rerun of an unchanged commit
reuses the image its registered version was built into. The digest is stored on the image as a
label, so the check is one filtered image listing.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Mapping
from typing import IO, Any

from lepton_ci.image.context import TRAIN_IN_CONTEXT

INPUTS_LABEL = "ci.lepton.image.inputs"
MANIFEST_IN_CONTEXT = f"{TRAIN_IN_CONTEXT}/manifest.json"
_CHUNK = 1 << 20


def inputs_digest(context: IO[bytes], buildargs: Mapping[str, str], base: str) -> str:
    """``sha256:…`` of the context's entries (name, mode, content; the manifest by the identity
    in ``buildargs``), the build arguments and the base image."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"buildargs": dict(buildargs), "base": base}, sort_keys=True).encode())
    context.seek(0)
    with tarfile.open(fileobj=context, mode="r|") as tar:
        for member in tar:
            digest.update(json.dumps([member.name, member.type.decode(), member.mode]).encode())
            handle = tar.extractfile(member)
            if handle is None or member.name == MANIFEST_IN_CONTEXT:
                continue
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
            digest.update(b"\0")
    context.seek(0)
    return f"sha256:{digest.hexdigest()}"


def base_identity(cli: Any, reference: str) -> str:
    """The base image's id where the engine has it (a retagged base is a change), else the
    reference itself."""
    import docker.errors

    try:
        return str(cli.images.get(reference).id)
    except docker.errors.ImageNotFound:
        return reference


def built_from(cli: Any, digest: str) -> str | None:
    """The id of an image of this engine built from these inputs, if there is one."""
    images = cli.images.list(filters={"label": f"{INPUTS_LABEL}={digest}"})
    return str(images[0].id) if images else None
