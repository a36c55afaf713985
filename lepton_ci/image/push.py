"""`lepton-ci image push`: point every tag at the built image, hand the digest on, record it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lepton_ci.console import info
from lepton_ci.errors import LeptonError, ServerError
from lepton_ci.image import docker_api, skopeo
from lepton_ci.run_dir import ImagePush, RunDir
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
    via: str = "engine"  # engine: docker push; skopeo: tags moved registry to registry
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
    """Push the tags `image build` recorded; write ``image/image.env``; record the digest.

    The registered version is confirmed before any tag moves. When the build staged its image in
    the registry (``LEPTON_IMAGE_STAGED``, ``repository@digest``), skopeo points the tags at that
    digest registry to registry: this agent needs no Docker engine and no copy of the image.
    Without skopeo, or for a build that staged nothing, the local engine pushes the tags."""
    run = RunDir.at(run_dir)
    built = run.read_image_build()
    refs = list(built.tags) if built else []
    if not refs:
        raise LeptonError(
            f"{run.image_build_env} names no image to push",
            hint="run `lepton-ci image build` first (or fetch the build job's artifacts)",
        )
    version = _registered_version(spec, root, run) if record else None
    staged = built.staged if built else None
    if staged and skopeo.available():
        result = _retag(refs, staged, attempts)
    else:
        if staged:
            info("skopeo not found: pushing the tags through the Docker engine", step="image")
        result = _engine_push(refs, staged, attempts, backoff)
    primary, digest = refs[0], result.digest
    repository = primary.rpartition(":")[0]
    run.write_image_push(ImagePush(primary, digest, f"{repository}@{digest}"))
    info(f"pushed {repository}@{digest} ({result.bytes_pushed} bytes uploaded)", step="image")
    recorded = False
    if version is not None:
        _record(spec, root, version, primary, digest)
        recorded = True
    return replace(result, recorded=recorded)


def _retag(refs: list[str], staged: str, attempts: int) -> PushResult:
    auth = docker_api.registry_credentials()
    digest = ""
    for ref in refs:
        info(f"tagging {ref} -> {staged} (registry to registry)", step="image")
        digest = skopeo.retag(staged, ref, auth=auth, attempts=attempts)
    return PushResult(image=refs[0], digest=digest, references=refs, via="skopeo")


def _engine_push(refs: list[str], staged: str | None, attempts: int, backoff: float) -> PushResult:
    cli = docker_api.client()
    auth = docker_api.registry_credentials()
    hidden = docker_api.secrets(auth)
    if staged:
        _ensure_local(cli, refs, staged, auth)
    digest = ""
    totals = {"bytes": 0, "pushed": 0, "existing": 0}
    for ref in refs:
        name, _, tag = ref.rpartition(":")
        info(f"pushing {ref}", step="image")
        result = docker_api.with_retries(
            functools.partial(docker_api.stream_push, cli, name, tag, auth, hidden),
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
    return PushResult(
        image=refs[0],
        digest=digest,
        references=refs,
        bytes_pushed=totals["bytes"],
        layers_pushed=totals["pushed"],
        layers_existing=totals["existing"],
        via="engine",
    )


def _ensure_local(cli: Any, refs: list[str], staged: str, auth: dict[str, str] | None) -> None:
    """Tag the staged image locally under ``refs``, pulling it by digest when this engine lacks
    it (another agent built it)."""
    import docker.errors

    try:
        image = cli.images.get(staged)
    except docker.errors.ImageNotFound:
        info(f"pulling {staged} (built on another engine)", step="image")
        image = cli.images.pull(staged, auth_config=auth)
    for ref in refs:
        name, _, tag = ref.rpartition(":")
        image.tag(name, tag)


def _registered_version(spec: Spec, root: Path, run: RunDir) -> tuple[str, int] | None:
    """The registered ``(model, version)`` the image is for, confirmed in the registry before
    any tag moves; None without ``register/model.env`` (an unregistered build)."""
    model = run.read_model_env()
    if model is None:
        info(
            "no register/model.env: the digest is not recorded in the model registry", step="image"
        )
        return None
    from lepton_ci.registry import open_registry

    with open_registry(spec, root) as registry:
        registry.get(model.name, model.version)  # UnknownVersion: a clear error, no tag moved
    return model.name, model.version


def _record(spec: Spec, root: Path, version: tuple[str, int], image: str, digest: str) -> None:
    """Store image + digest on the registered model version (contract 3)."""
    from lepton_ci.registry import open_registry

    name, number = version
    with open_registry(spec, root) as registry:
        registry.set_image(name, number, image=image, digest=digest)
    info(f"recorded {digest} on {name} version {number}", step="image")
