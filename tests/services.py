"""Shared pytest fixtures for everything that needs Docker, the local registry or a model.

Use them from any test package by importing them into its ``conftest.py``::

    from tests.services import base_image, docker_client, local_registry, tiny_model  # noqa: F401

- ``docker_client`` (session): a ``docker.DockerClient`` for the engine `.ci/services` started
  (``dockerd --bridge=none``). Containers MUST use ``network_mode="host"`` and bind 127.0.0.1.
- ``local_registry`` (session): ``"127.0.0.1:5000"``, Debian's docker-registry, no auth.
- ``base_image`` (session): ``"lepton-ci/base:bookworm-torch2.13.0"`` (python3, CPU torch and
  lepton-ci[serve]'s dependencies), the base of every test image; set ``image.base`` to it.
- ``tiny_model`` (function): a directory holding a TorchScript ``model.pt`` (4 inputs -> 3
  classes) and a contract-1 ``manifest.json``; ``make_tiny_model(path)`` does the same anywhere.
- ``lepton_wheel`` (session): a wheel of this checkout (``pip wheel --no-deps``), for offline
  image builds (``LEPTON_CI_WHEEL`` / ``--lepton-wheel``).

The session fixtures run ``.ci/services`` once (idempotent; the first run builds the base
image, ~1-2 minutes) and skip, saying why, only when the Docker engine truly cannot start
(exit 3); any other failure of the services (registry, base image) fails the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES = REPO / ".ci" / "services"


@pytest.fixture(scope="session")
def services_env() -> dict[str, str]:
    """KEY=value lines printed by `.ci/services` (DOCKER_HOST, LEPTON_LOCAL_REGISTRY, ...)."""
    proc = subprocess.run(
        ["bash", str(SERVICES)],
        capture_output=True,
        text=True,
        env={**os.environ, "LEPTON_PYTHON": sys.executable},
        timeout=900,
        check=False,
    )
    tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
    if proc.returncode == 3:  # .ci/services: no Docker engine can start on this machine
        pytest.skip(f"no Docker engine can start here:\n{tail}")
    if proc.returncode != 0:
        pytest.fail(f".ci/services failed (exit {proc.returncode}):\n{tail}", pytrace=False)
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    os.environ.setdefault("DOCKER_HOST", env["DOCKER_HOST"])
    return env


@pytest.fixture(scope="session")
def docker_client(services_env: dict[str, str]) -> Iterator[Any]:
    docker = pytest.importorskip("docker", reason="the docker extra is not installed")
    client = docker.DockerClient(base_url=services_env["DOCKER_HOST"])
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Docker engine does not answer at {services_env['DOCKER_HOST']}: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def local_registry(services_env: dict[str, str]) -> str:
    return services_env["LEPTON_LOCAL_REGISTRY"]


@pytest.fixture(scope="session")
def base_image(services_env: dict[str, str], docker_client: Any) -> str:
    return services_env["LEPTON_BASE_IMAGE"]


@pytest.fixture(scope="session")
def lepton_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w", str(out)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("lepton_ci-*.whl"))


def make_tiny_model(model_dir: Path, *, seed: int = 0, name: str = "tiny") -> Path:
    """Write a TorchScript classifier (4 features -> 3 classes) and its manifest."""
    import torch

    from lepton_ci.runtime.manifest import build_manifest, write_manifest

    model_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    scripted = torch.jit.trace(module.eval(), torch.zeros(1, 4))
    torch.jit.save(scripted, str(model_dir / "model.pt"))
    (model_dir / "labels.json").write_text('["setosa", "versicolor", "virginica"]')
    manifest = build_manifest(
        model_dir,
        model=name,
        root=model_dir,
        data_hash="sha256:" + "0" * 64,
        params={"seed": seed},
        seed=seed,
        device="cpu",
        durations={"train_seconds": 0.0},
        cache_key=f"tiny-{seed}",
    )
    write_manifest(model_dir, manifest)
    return model_dir


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return make_tiny_model(tmp_path / "model")
