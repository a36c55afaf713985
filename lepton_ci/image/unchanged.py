"""Nothing changed, nothing built: an image build is a no-op when the engine already holds an
image built from the same inputs.

The inputs are the build context (the repository files the .dockerignore keeps, the rendered
Dockerfile, the model directory and the lepton-ci wheel, as :mod:`lepton_ci.image.context`
writes them: content only, no mtimes or owners), the build arguments, and the base image: its
image id where the engine has it, else its reference (a base tag that moved on a registry the
engine has not pulled from is then not noticed: ``--no-cache`` rebuilds). The digest is stored
on the image as a label, so the check is one filtered image listing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import IO, Any

INPUTS_LABEL = "ci.lepton.image.inputs"
_CHUNK = 1 << 20


def inputs_digest(context: IO[bytes], buildargs: Mapping[str, str], base: str) -> str:
    """``sha256:…`` of the context's bytes, the build arguments and the base image."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"buildargs": dict(buildargs), "base": base}, sort_keys=True).encode())
    context.seek(0)
    while chunk := context.read(_CHUNK):
        digest.update(chunk)
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
