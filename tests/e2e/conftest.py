"""Fixtures: throwaway copies of the digits example as git repositories, and `lepton-ci` runs.

Every test gets its own copy of ``examples/digits`` (a git repository on ``main`` with one
commit), optionally with a changed spec. Training results are cached per test session
(``LEPTON_CACHE_DIR``), so the example trains once however many pipelines run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lepton_ci.netutil import free_port
from tests.e2e.servers import mlflow_server, package_index  # noqa: F401
from tests.metrics.conftest import pushgateway  # noqa: F401
from tests.services import (  # noqa: F401
    base_image,
    docker_client,
    lepton_wheel,
    local_registry,
    services_env,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "digits"
VENV_BIN = Path(sys.executable).parent

SpecEdit = Callable[[dict[str, Any]], None]


def git(root: Path, *args: str) -> str:
    out = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@localhost.invalid",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def make_project(dest: Path, edit: SpecEdit | None = None) -> Path:
    """Copy the example to ``dest``, apply ``edit`` to its spec, commit it on ``main``."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".lepton", "__pycache__"))
    if edit is not None:
        spec_file = dest / "lepton.yaml"
        spec = yaml.safe_load(spec_file.read_text())
        edit(spec)
        spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    (dest / ".gitignore").write_text(".lepton/\n__pycache__/\n.gitlab-ci-local/\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "digits example")
    return dest


def local_targets(spec: dict[str, Any]) -> None:
    """Deploy every environment as background processes (no Docker) on free ports."""
    for env in spec["deploy"]["environments"]:
        env["target"] = "local"
        env["port"] = free_port()


@pytest.fixture(scope="session")
def step_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("step-cache")


def clean_env(step_cache: Path) -> dict[str, str]:
    """The environment pipelines run in: this venv first on PATH, no CI variables leaking in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEPTON_", "CI_", "GITLAB_", "JENKINS_", "BRANCH_NAME", "GIT_BRANCH"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["LEPTON_CACHE_DIR"] = str(step_cache)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def lepton_env(step_cache: Path) -> dict[str, str]:
    return clean_env(step_cache)


def lepton(
    root: Path, *args: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``lepton-ci ARGS`` in ``root`` as a user would (a separate process)."""
    return subprocess.run(
        [sys.executable, "-m", "lepton_ci", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def stop_local_deployments() -> Iterator[Callable[[Path], None]]:
    """Register a project whose ``local`` environments are torn down after the test."""
    from lepton_ci.deploy.local import LocalRuntime

    projects: list[Path] = []
    yield projects.append
    for root in projects:
        spec = yaml.safe_load((root / "lepton.yaml").read_text())
        for env in spec["deploy"]["environments"]:
            LocalRuntime(root, env["name"], "127.0.0.1", env["port"]).shutdown()
