"""`lepton-ci image push`: push every tag, hand the digest on, record it in the registry."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from lepton_ci.console import info
from lepton_ci.dotenv import read_dotenv, write_dotenv
from lepton_ci.errors import LeptonError, ServerError
from lepton_ci.image import docker_api
from lepton_ci.layout import RunLayout
from lepton_ci.spec.model import Spec


@dataclass(frozen=True)
class PushResult:
    image: str  # repository:tag (primary)
    digest: str  # sha256:...
    references: list[str]
    bytes_pushed: int = 0  # bytes the engine reported uploading (layers already present: 0)
    layers_pushed: int = 0
    layers_existing: int = 0
    recorded: bool = False  # digest stored on the model version in the registry
    details: dict[str, Any] = field(default_factory=dict)


def push_image(
    spec: Spec,
    *,
    root: Path = Path("."),
    run_dir: Path = Path(".lepton/run"),
    record: bool = True,
    attempts: int = 4,
    backoff: float = 1.0,
) -> PushResult:
    """Push the tags `image build` recorded; write ``image/image.env``; record the digest."""
    layout = RunLayout(root=PurePosixPath(run_dir))
    built = read_dotenv(Path(str(layout.image_build_env)), missing_ok=True)
    refs = [r for r in built.get("LEPTON_IMAGE_TAGS", "").split(",") if r]
    if not refs:
        raise LeptonError(
            f"{layout.image_build_env} names no image to push",
            hint="run `lepton-ci image build` first (or fetch the build job's artifacts)",
        )
    cli = docker_api.client()
    auth = docker_api.registry_credentials()
    hidden = docker_api.secrets(auth)
    digest = ""
    totals = {"bytes": 0, "pushed": 0, "existing": 0}
    for ref in refs:
        name, _, tag = ref.rpartition(":")
        info(f"pushing {ref}", step="image")
        result = docker_api.with_retries(
            functools.partial(_stream_push, cli, name, tag, auth, hidden),
            what=f"push {ref}",
            hidden=hidden,
            attempts=attempts,
            backoff=backoff,
        )
        digest = digest or result["digest"]
        if result["digest"] != digest:
            raise ServerError(f"{ref} was pushed as {result['digest']}, expected {digest}")
        for key in totals:
            totals[key] += result[key]
    primary = refs[0]
    repository = primary.rpartition(":")[0]
    write_dotenv(
        Path(str(layout.image_env)),
        {
            "LEPTON_IMAGE": primary,
            "LEPTON_IMAGE_DIGEST": digest,
            "LEPTON_IMAGE_REF": f"{repository}@{digest}",
        },
    )
    info(f"pushed {repository}@{digest} ({totals['bytes']} bytes uploaded)", step="image")
    recorded = _record(spec, root, layout, primary, digest) if record else False
    return PushResult(
        image=primary,
        digest=digest,
        references=refs,
        bytes_pushed=totals["bytes"],
        layers_pushed=totals["pushed"],
        layers_existing=totals["existing"],
        recorded=recorded,
    )


def _stream_push(
    cli: Any, name: str, tag: str, auth: dict[str, str] | None, hidden: list[str]
) -> dict[str, Any]:
    """One push; the digest and what was uploaded. Errors in the stream raise ServerError."""
    sizes: dict[str, int] = {}
    existing: set[str] = set()
    digest = None
    last_report = time.monotonic()
    stream = cli.api.push(name, tag=tag, auth_config=auth, stream=True, decode=True)
    for chunk in stream:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise ServerError(docker_api.redact(f"push {name}:{tag} failed: {detail}", hidden))
        layer, status = chunk.get("id"), chunk.get("status", "")
        if layer and status == "Layer already exists":
            existing.add(layer)
        elif layer and status == "Pushing":
            current = chunk.get("progressDetail", {}).get("current")
            if current:
                sizes[layer] = max(sizes.get(layer, 0), int(current))
            if time.monotonic() - last_report > 10:
                info(f"{name}:{tag}: {sum(sizes.values())} bytes uploaded", step="image")
                last_report = time.monotonic()
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = aux["Digest"]
    if not digest:
        raise ServerError(f"push {name}:{tag} finished without a digest from the registry")
    return {
        "digest": digest,
        "bytes": sum(sizes.values()),
        "pushed": len(sizes),
        "existing": len(existing),
    }


def _record(spec: Spec, root: Path, layout: RunLayout, image: str, digest: str) -> bool:
    """Store image + digest on the registered model version (contract 3)."""
    model = read_dotenv(Path(str(layout.model_env)), missing_ok=True)
    name, version = model.get("LEPTON_MODEL_NAME"), model.get("LEPTON_MODEL_VERSION")
    if not (name and version):
        info(
            "no register/model.env: the digest is not recorded in the model registry", step="image"
        )
        return False
    try:
        from lepton_ci.registry import open_registry
    except ImportError:
        info("model registry unavailable in this build: digest not recorded", step="image")
        return False
    with open_registry(spec, root) as registry:
        registry.set_image(name, int(version), image=image, digest=digest)
    info(f"recorded {digest} on {name} version {version}", step="image")
    return True
