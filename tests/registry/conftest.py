"""Fixtures: a spec, a registry on each backend and run directories as train/evaluate leave them."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lepton_ci.registry import Registry, open_registry
from lepton_ci.spec.loader import parse_spec
from tests.services import PostgresServer, postgres_server  # noqa: F401

SPEC = """\
version: 1
project: {name: Digits CNN, model: digits-cnn}
train: {entrypoint: digits.train:train, params: {epochs: 3, lr: 0.01}}
evaluate: {entrypoint: digits.evaluate:evaluate}
gates: [accuracy >= 0.9]
deploy:
  environments: [{name: staging}, {name: production}]
"""


def manifest(model: str = "digits-cnn", commit: str = "0123456789abcdef", **extra: Any) -> dict:
    return {
        "schema_version": 1,
        "model": model,
        # the weights differ per commit, as a real retrain's would
        "files": {
            "model.pt": {"sha256": hashlib.sha256(commit.encode()).hexdigest(), "size": 1234}
        },
        "git": {"commit": commit, "branch": "main", "dirty": False},
        "data_hash": "sha256:" + "cd" * 32,
        "params": {"epochs": 3, "lr": 0.01},
        "seed": 7,
        "device": "cpu",
        "versions": {"python": "3.11", "torch": "2.13.0", "lepton_ci": "0.1.0"},
        "ci_url": None,
        "durations": {"train_seconds": 12.5, "data_seconds": 0.5},
        "cache_key": "key",
        "created_at": "2026-01-01T00:00:00+00:00",
    } | extra


def evaluation(accuracy: float, threshold: float = 0.9, model: str = "digits-cnn") -> dict:
    passed = accuracy >= threshold
    return {
        "schema_version": 1,
        "model": model,
        "samples": 360,
        "metrics": {
            "accuracy": accuracy,
            "macro_f1": accuracy - 0.01,
            "loss": 0.2,
            "latency_p50_ms": 0.4,
            "latency_p95_ms": 0.9,
            "model_size_bytes": 1234,
            "precision/3": 0.97,
        },
        "gates": [
            {
                "name": f"accuracy >= {threshold}",
                "metric": "accuracy",
                "op": ">=",
                "threshold": threshold,
                "champion_delta": None,
                "champion_value": None,
                "bound": threshold,
                "value": accuracy,
                "delta": accuracy - threshold,
                "ci_low": None,
                "ci_high": None,
                "passed": passed,
                "skipped": None,
            }
        ],
        "passed": passed,
        "champion": None,
    }


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "lepton.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(autouse=True)
def actor(monkeypatch: pytest.MonkeyPatch) -> str:
    """Tests act as `alice` whatever the machine's CI variables say."""
    for var in ("GITLAB_USER_LOGIN", "BUILD_USER_ID", "BUILD_USER", "LEPTON_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("USER", "alice")
    return "alice"


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow tracking + registry store (SQLite, artifacts beside it), no server."""
    pytest.importorskip("mlflow")
    return "sqlite:///" + str(tmp_path_factory.mktemp("mlflow") / "mlflow.db")


def mlflow_spec(uri: str):
    text = SPEC + f"registry: {{backend: mlflow, tracking_uri: '{uri}'}}\n"
    return parse_spec(text, "lepton.yaml")


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> str:  # noqa: F811
    """A fresh database of this test's own on the session's PostgreSQL server (no password)."""
    return postgres_server.create_database(
        "t_" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    )


@pytest.fixture(params=["sqlite", "postgresql", "mlflow"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """Each backend in turn: the contract is the same."""
    location = None
    if request.param == "mlflow":
        spec = mlflow_spec(request.getfixturevalue("mlflow_uri"))
    else:
        spec = parse_spec(SPEC, "lepton.yaml")
    if request.param == "postgresql":
        location = request.getfixturevalue("postgres_url")
    with open_registry(spec, tmp_path, location) as reg:
        yield reg


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a SQL registry lives, on each dialect: a sqlite:/// URL or a postgresql:// URL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A model name of this test's own (the MLflow store is shared by the session)."""
    return "m-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]


RunDir = Callable[..., Path]


@pytest.fixture
def make_run(tmp_path: Path) -> RunDir:
    """A run directory as `train` and `evaluate` leave it (accuracy decides the gate)."""
    counter = iter(range(1000))

    def make(
        accuracy: float | None = 0.95,
        *,
        commit: str = "0123456789abcdef",
        model: str = "digits-cnn",
    ) -> Path:
        run = tmp_path / f"run{next(counter)}"
        (run / "train").mkdir(parents=True)
        weights = b"torchscript bytes " + commit.encode()
        (run / "train" / "model.pt").write_bytes(weights)
        files = {"model.pt": {"sha256": hashlib.sha256(weights).hexdigest(), "size": len(weights)}}
        (run / "train" / "manifest.json").write_text(
            json.dumps(manifest(model, commit=commit, files=files))
        )
        if accuracy is not None:
            (run / "evaluate").mkdir()
            (run / "evaluate" / "metrics.json").write_text(
                json.dumps(evaluation(accuracy, model=model))
            )
            (run / "evaluate" / "samples.npz").write_bytes(b"PK-samples-" + str(accuracy).encode())
        return run

    return make


@pytest.fixture
def lepton(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spec_file: Path,
):
    """Run `lepton-ci ARGS` in-process in tmp_path; returns (exit code, stdout, stderr)."""
    from lepton_ci.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
