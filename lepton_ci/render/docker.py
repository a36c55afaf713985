"""The model image's Dockerfile and .dockerignore, rendered from the spec (pure functions).

Layers are ordered for the build cache (base, system packages, Python dependencies, code,
model artifact), so a model-only change rebuilds and pushes only the artifact layer. Every spec
value is escaped for the Dockerfile construct it lands in; see the filters below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lepton_ci.render.escape import docker_str, render_template  # noqa: F401 (tests import it here)
from lepton_ci.spec.model import BatchingSpec, Spec

MODEL_DIR = "/app/model"
"""Where the trained artifact lives inside the image."""
VENV_PYTHON = "/opt/lepton/venv/bin/python"
WHEELS_DIR = ".lepton/wheels"
"""Build-context folder for a local lepton-ci wheel (offline builds); may be empty."""


def lepton_requirement(spec: Spec) -> str:
    """The pinned lepton-ci requirement installed in the image, always with the serve extra."""
    name = spec.lepton_ci.package.split("[", 1)[0]
    return f"{name}[serve]=={spec.lepton_ci.version}"


def serve_command(spec: Spec) -> list[str]:
    """The image's ENTRYPOINT (exec form): self-contained, no spec file needed at run time.

    Host and port come from LEPTON_SERVE_HOST / LEPTON_SERVE_PORT, so a deployer can move the
    port (containers share the host network) without changing the image.
    """
    argv = ["lepton-ci", "serve", "--model-dir", MODEL_DIR]
    argv += ["--max-batch", str(spec.serve.max_batch), "--workers", str(spec.serve.workers)]
    if spec.serve.entrypoint:
        argv += ["--entrypoint", spec.serve.entrypoint]
    batching, default = spec.serve.batching, BatchingSpec()
    if batching.max_batch_size != default.max_batch_size:
        argv += ["--batch-size", str(batching.max_batch_size)]
    if batching.max_latency_ms != default.max_latency_ms:
        argv += ["--batch-latency-ms", f"{batching.max_latency_ms:g}"]
    if batching.queue_timeout_ms != default.queue_timeout_ms:
        argv += ["--queue-timeout-ms", f"{batching.queue_timeout_ms:g}"]
    return argv


def unpinned_system(packages: Iterable[str]) -> list[str]:
    """Debian packages without ``=version`` (hadolint DL3008)."""
    return [p for p in packages if "=" not in p]


def unpinned_pip(requirements: Iterable[str]) -> list[str]:
    """pip requirements without any version specifier or direct URL (hadolint DL3013)."""
    return [r for r in requirements if not re.search(r"[<>=~!@]", r.split(";", 1)[0])]


def render_dockerfile(spec: Spec) -> str:
    """The Dockerfile body (without the generated-file header)."""
    pip_args: list[str] = []
    if spec.lepton_ci.index_url:
        pip_args += ["--extra-index-url", spec.lepton_ci.index_url]
    pip_args += [lepton_requirement(spec), *spec.image.pip]
    return render_template(
        "docker/Dockerfile.j2",
        base=spec.image.base,
        system=list(spec.image.system),
        unpinned_system=unpinned_system(spec.image.system),
        unpinned_pip=unpinned_pip(spec.image.pip),
        pip_args=pip_args,
        port=spec.image.port,
        healthcheck=[VENV_PYTHON, "-m", "lepton_ci.serve.healthcheck"],
        entrypoint=serve_command(spec),
        title=spec.project.name,
        model=spec.model_name,
        lepton_version=spec.lepton_ci.version,
    )


def render_dockerignore(spec: Spec) -> str:
    """The .dockerignore body (without the generated-file header)."""
    return render_template("docker/dockerignore.j2")
