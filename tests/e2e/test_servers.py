"""The harness's servers are what a team's CI talks to: an index pip installs lepton-ci from,
and an MLflow tracking server our registry backend registers into over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lepton_ci import __version__
from lepton_ci.registry.mlflow import MlflowRegistry

pytestmark = pytest.mark.slow  # a wheel build and an MLflow server start


def test_pip_finds_this_checkout_on_the_index(package_index: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--index-url",
            package_index,
            "-d",
            str(tmp_path),
            f"lepton-ci=={__version__}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert [p.name for p in tmp_path.glob("lepton_ci-*.whl")]


def test_versions_registered_over_http_are_seen_by_another_client(mlflow_server: str) -> None:
    first = MlflowRegistry(mlflow_server)
    version = first.register(
        "harness-probe",
        manifest={"files": {}},
        metrics={"accuracy": 0.9},
        gates=[],
        git_sha=None,
        data_hash=None,
        params={},
    ).version
    other = MlflowRegistry(mlflow_server)  # another job: nothing shared but the server
    assert other.get("harness-probe", version).metrics["accuracy"] == 0.9
