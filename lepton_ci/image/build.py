"""`lepton-ci image build`: render, assemble the context, build through the Docker API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton_ci.console import info
from lepton_ci.errors import LeptonError, StepError
from lepton_ci.image import docker_api
from lepton_ci.image.naming import image_tags, repository, source_info
from lepton_ci.image.unchanged import INPUTS_LABEL, base_identity, built_from, inputs_digest
from lepton_ci.run_dir import ImageBuild, RunDir
from lepton_ci.spec.model import IMAGE_REF, Spec

WHEEL_ENV = "LEPTON_CI_WHEEL"
BASE_ENV = "LEPTON_IMAGE_BASE"


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    references: list[str]  # repository:tag, primary first
    labels: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    staged: str | None = None  # repository@digest in the registry, for `image push` anywhere
    layers_pushed: int = 0  # layers the staging push uploaded (the rest were there)
    bytes_pushed: int = 0  # bytes it uploaded (engine progress)
    reused: bool = False  # the engine had an image built from the same inputs: no build ran


def lepton_wheel(value: str | None, workdir: Path) -> Path | None:
    """The lepton-ci wheel to install in the image: a path, ``auto`` (build one from this
    checkout with ``pip wheel --no-deps``), or None (install from the package index)."""
    value = value or os.environ.get(WHEEL_ENV) or None
    if value is None:
        return None
    if value != "auto":
        path = Path(value)
        if not path.is_file() or path.suffix != ".whl":
            raise LeptonError(
                f"lepton-ci wheel {value} not found", hint="pass a .whl file or `auto`"
            )
        return path
    from lepton_ci.resources import _PACKAGE

    checkout = _PACKAGE.parent
    if not (checkout / "pyproject.toml").is_file():
        raise LeptonError(
            "`--lepton-wheel auto` needs lepton-ci running from a source checkout",
            hint="pass the path of a lepton-ci wheel instead",
        )
    info(f"building the lepton-ci wheel from {checkout}", step="image")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            str(checkout),
            "-w",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise StepError(f"pip wheel failed:\n{proc.stderr.strip()[-2000:]}")
    return next(workdir.glob("lepton_ci-*.whl"))


def build_image(
    spec: Spec,
    *,
    root: Path = Path("."),
    run_dir: Path = Path(".lepton/run"),
    model_dir: Path | None = None,
    wheel: str | None = None,
    offline: bool | None = None,
    model_version: str | None = None,
    no_cache: bool = False,
    base: str | None = None,
    stage: bool = True,
) -> BuildResult:
    """Build the image; tag it; write ``image/build.env``. ``offline`` (default: when a wheel
    is given) makes pip in the build use only the wheel and the base image's packages.
    ``base`` (or env LEPTON_IMAGE_BASE) replaces ``image.base`` through the BASE_IMAGE build
    arg, so the committed Dockerfile stays valid (a mirror, an air-gapped base). ``stage``
    pushes the image under a build tag (``build-<image id>``, no release tag moves) and writes
    ``LEPTON_IMAGE_STAGED=repository@digest``, so `image push` can run on an agent that has
    neither this engine nor the image."""
    import time

    from lepton_ci.image.context import build_context
    from lepton_ci.render.docker import render_dockerfile, render_dockerignore
    from lepton_ci.runtime.manifest import manifest_digest, verify_artifacts

    run = RunDir.at(run_dir)
    model_dir = model_dir or run.train_dir
    verify_artifacts(model_dir)
    registered = run.read_model_env()
    version = model_version or (str(registered.version) if registered else None)
    source = source_info(root)
    repo = repository(spec)
    refs = [f"{repo}:{tag}" for tag in image_tags(spec, model_version=version, source=source)]
    labels_args = {
        "LEPTON_SOURCE_URL": source.url or "unknown",
        "LEPTON_GIT_SHA": source.commit or "unknown",
        "LEPTON_MODEL_VERSION": version or "unregistered",
        "LEPTON_MANIFEST_DIGEST": manifest_digest(model_dir),
    }
    base = base or os.environ.get(BASE_ENV) or None
    buildargs = dict(labels_args)
    if base:
        if not re.match(IMAGE_REF, base):
            raise LeptonError(f"base image {base!r} is not an image reference")
        buildargs["BASE_IMAGE"] = base
    cli = docker_api.client()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lepton-wheel-") as tmp:
        wheel_path = lepton_wheel(wheel, Path(tmp))
        no_index = offline if offline is not None else wheel_path is not None
        context = build_context(
            root,
            dockerfile=render_dockerfile(spec),
            dockerignore=render_dockerignore(spec),
            model_dir=model_dir,
            wheel=wheel_path,
        )
        buildargs["PIP_NO_INDEX"] = "1" if no_index else "0"
        inputs = inputs_digest(context, buildargs, base_identity(cli, base or spec.image.base))
        reused = None if no_cache else built_from(cli, inputs)
        if reused is not None:
            image_id = reused
            info(
                f"image inputs unchanged ({inputs[:19]}): {image_id[:19]} was built from them, "
                "nothing to build (--no-cache rebuilds)",
                step="image",
            )
        else:
            info(f"building {refs[0]} (base {base or spec.image.base})", step="image")
            image_id = docker_api.with_retries(
                lambda: _stream_build(
                    cli, context, refs[0], buildargs, {INPUTS_LABEL: inputs}, no_cache=no_cache
                ),
                what="docker build",
                attempts=1,
            )
    image = cli.images.get(image_id)
    for ref in refs if reused is not None else refs[1:]:
        name, _, tag = ref.rpartition(":")
        image.tag(name, tag)
    seconds = time.monotonic() - started
    done = "tagged" if reused is not None else "built"
    info(f"{done} {image_id[:19]} as {', '.join(refs)} in {seconds:.1f}s", step="image")
    staged, layers, uploaded = _stage(cli, image, repo, image_id) if stage else (None, 0, 0)
    run.write_image_build(ImageBuild(tuple(refs), image_id, staged))
    return BuildResult(
        image_id=image_id,
        references=refs,
        labels=image.labels,
        seconds=seconds,
        staged=staged,
        layers_pushed=layers,
        bytes_pushed=uploaded,
        reused=reused is not None,
    )


def staging_tag(image_id: str) -> str:
    """The build tag: named by the image's content, so it never points at another image."""
    return "build-" + image_id.removeprefix("sha256:")[:12]


def _stage(cli: Any, image: Any, repo: str, image_id: str) -> tuple[str, int, int]:
    """Push the image under its build tag; ``(repository@digest, layers, bytes uploaded)``."""
    import functools

    tag = staging_tag(image_id)
    image.tag(repo, tag)
    auth = docker_api.registry_credentials()
    hidden = docker_api.secrets(auth)
    info(f"staging {repo}:{tag} in the registry for `image push`", step="image")
    pushed = docker_api.with_retries(
        functools.partial(docker_api.stream_push, cli, repo, tag, auth, hidden),
        what=f"push {repo}:{tag}",
        hidden=hidden,
    )
    return f"{repo}@{pushed['digest']}", int(pushed["pushed"]), int(pushed["bytes"])


def _stream_build(
    cli: Any,
    context: Any,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    *,
    no_cache: bool = False,
) -> str:
    """Run the build, echoing its output line by line; the image id, or StepError."""
    import docker.errors

    context.seek(0)
    image_id: str | None = None
    tail: list[str] = []
    try:
        stream = cli.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs=buildargs,
            labels=labels,
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            nocache=no_cache,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.strip():
                        info(line.rstrip(), step="image")
                        tail = [*tail[-19:], line.rstrip()]
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise StepError(
                    f"docker build failed: {detail.strip()}\n  last output:\n    "
                    + "\n    ".join(tail[-10:])
                )
    except docker.errors.APIError as exc:
        raise StepError(f"docker build failed: {exc.explanation or exc}") from None
    if image_id is None:
        raise StepError("docker build finished without reporting an image id")
    return image_id
