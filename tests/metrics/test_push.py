"""`lepton-ci metrics push`: registry always, Pushgateway and MLflow when configured."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from lepton_ci.errors import ExitCode
from lepton_ci.metrics.retry import Permanent, with_retries
from lepton_ci.registry.sql import SqlRegistry

from .conftest import free_port, scrape

CANARY = "canary-Pw-7f3a91"


def register_versions(root: Path, count: int) -> None:
    """What `models register` left in the project's registry: ``count`` versions."""
    with SqlRegistry(root / ".lepton" / "registry.db") as reg:
        for n in range(count):
            reg.register(
                "digits-cnn",
                manifest={"stand_in": n},  # one artifact per version: the same one is one version
                metrics={},
                gates=[],
                git_sha=None,
                data_hash=None,
                params={},
            )


def lepton_metric(samples, **labels: str) -> dict[str, float]:
    """{metric label: value} of lepton_model_metric samples matching ``labels``."""
    return {
        lab["metric"]: value
        for name, lab, value in samples
        if name == "lepton_model_metric" and all(lab.get(k) == v for k, v in labels.items())
    }


def test_metrics_reach_the_pushgateway_grouped_by_project_version_sha_and_env(
    lepton, project, run_dir, pushgateway: str, tmp_path: Path
) -> None:
    project(f"[{{type: pushgateway, url: '{pushgateway}', job: ci_test}}]")
    register_versions(tmp_path, 4)
    run = run_dir(0.95, version=4, commit="f00dbabe")
    code, _, err = lepton("metrics", "push", "--run-dir", str(run), "--environment", "staging")
    assert code == 0, err

    samples = scrape(pushgateway)
    group = {
        "job": "ci_test",
        "project": "digits-cnn",
        "model_version": "4",
        "git_sha": "f00dbabe",
        "environment": "staging",
    }
    evaluated = lepton_metric(samples, kind="evaluate", **group)
    assert evaluated["accuracy"] == pytest.approx(0.95)
    assert evaluated["precision/3"] == pytest.approx(0.97)
    steps = {
        lab["step"]: v
        for n, lab, v in samples
        if n == "lepton_step_duration_seconds" and lab.get("model_version") == "4"
    }
    assert steps == {"train": 12.5, "data": 0.5}
    passed = [
        v
        for n, lab, v in samples
        if n == "lepton_evaluation_passed" and lab.get("model_version") == "4"
    ]
    assert passed == [1.0]
    assert "sent" in err and "pushgateway" in err

    # and always in the registry, on the registered version
    with SqlRegistry(tmp_path / ".lepton" / "registry.db") as reg:
        logged = reg.logged_metrics("digits-cnn", 4)
    assert logged["evaluate"]["accuracy"] == 0.95
    assert logged["timing"]["train_seconds"] == 12.5


def test_a_run_that_failed_its_gates_still_pushes_what_exists(
    lepton, project, run_dir, pushgateway: str, tmp_path: Path
) -> None:
    project(f"[{{type: pushgateway, url: '{pushgateway}'}}]")
    run = run_dir(0.42, version=None, commit="badbad")
    code, _, err = lepton("metrics", "push", "--run-dir", str(run))
    assert code == 0, err
    samples = scrape(pushgateway)
    group = {"model_version": "unregistered", "git_sha": "badbad"}
    assert lepton_metric(samples, kind="evaluate", **group)["accuracy"] == pytest.approx(0.42)
    gates = [
        (lab["gate"], v)
        for n, lab, v in samples
        if n == "lepton_gate_passed" and lab.get("git_sha") == "badbad"
    ]
    assert gates == [("accuracy >= 0.9", 0.0)]
    with SqlRegistry(tmp_path / ".lepton" / "registry.db") as reg:
        assert reg.logged_metrics("digits-cnn", None, "evaluate")["evaluate"]["accuracy"] == 0.42


def test_an_unreachable_gateway_warns_with_what_was_not_sent_unless_strict(
    lepton, project, run_dir, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEPTON_PUSHGATEWAY_USER", "ci")
    monkeypatch.setenv("LEPTON_PUSHGATEWAY_PASSWORD", CANARY)
    dead = f"http://127.0.0.1:{free_port()}"
    project(f"[{{type: pushgateway, url: '{dead}'}}]")
    register_versions(tmp_path, 1)
    run = run_dir(0.95)

    code, out, err = lepton("metrics", "push", "--run-dir", str(run), "--retries", "1")
    assert code == 0, err
    assert f"not sent to pushgateway {dead}" in err
    assert "evaluate/accuracy" in err and "timing/train_seconds" in err
    assert CANARY not in out + err
    with SqlRegistry(tmp_path / ".lepton" / "registry.db") as reg:  # the registry got them
        assert reg.logged_metrics("digits-cnn", 1)["evaluate"]["accuracy"] == 0.95

    code, out, err = lepton(
        "--verbose", "metrics", "push", "--run-dir", str(run), "--retries", "0", "--strict"
    )
    assert code == ExitCode.SERVER
    assert "metrics push incomplete (--strict)" in err and f"pushgateway {dead}" in err
    assert CANARY not in out + err


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Recorder.seen.append((self.path, self.headers.get("Authorization")))
        status = 401 if self.headers.get("Authorization") is None else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_gateway() -> Iterator[str]:
    """A loopback HTTP endpoint that records Authorization headers and demands one."""
    _Recorder.seen = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_credentials_go_in_the_auth_header_from_the_environment_only(
    lepton,
    project,
    run_dir,
    monkeypatch: pytest.MonkeyPatch,
    recording_gateway: str,
    tmp_path: Path,
) -> None:
    project(f"[{{type: pushgateway, url: '{recording_gateway}'}}]")
    register_versions(tmp_path, 1)
    run = run_dir(0.95)
    code, out, err = lepton("metrics", "push", "--run-dir", str(run), "--strict")
    assert code == ExitCode.SERVER and "401" in err  # refused: not retried, reported
    assert len(_Recorder.seen) == 1

    monkeypatch.setenv("LEPTON_PUSHGATEWAY_USER", "ci")
    monkeypatch.setenv("LEPTON_PUSHGATEWAY_PASSWORD", CANARY)
    code, out, err = lepton("metrics", "push", "--run-dir", str(run), "--strict")
    assert code == 0, err
    path, auth = _Recorder.seen[-1]
    assert path.startswith("/metrics/job/lepton_ci/")
    assert auth == "Basic " + base64.b64encode(f"ci:{CANARY}".encode()).decode()
    assert CANARY not in out + err


def test_metrics_reach_an_mlflow_sink(lepton, project, run_dir, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    uri = "sqlite:///" + str(tmp_path / "mlflow.db")
    project(f"[{{type: mlflow, tracking_uri: '{uri}', experiment: digits-metrics}}]")
    code, _, err = lepton("metrics", "push", "--run-dir", str(run_dir(0.95, version=2)))
    assert code == 0, err
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("digits-metrics")
    (mlrun,) = client.search_runs([exp.experiment_id])
    assert mlrun.data.tags["lepton.model_version"] == "2"
    assert mlrun.data.metrics["evaluate/accuracy"] == pytest.approx(0.95)
    assert mlrun.data.metrics["timing/train_seconds"] == pytest.approx(12.5)


def test_nothing_to_push_is_not_an_error(lepton, project, tmp_path: Path) -> None:
    project()
    code, _, err = lepton("metrics", "push", "--run-dir", str(tmp_path / "nothing"))
    assert code == 0 and "nothing to push" in err


def test_retries_back_off_exponentially_and_stop_at_the_bound() -> None:
    calls, sleeps = [], []

    def flaky() -> str:
        calls.append(1)
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        with_retries(flaky, retries=4, sleep=sleeps.append)
    assert len(calls) == 5 and sleeps == [0.5, 1.0, 2.0, 4.0]

    def refused() -> str:
        calls.append(1)
        raise Permanent("401")

    calls.clear()
    with pytest.raises(Permanent):
        with_retries(refused, retries=4, sleep=sleeps.append)
    assert len(calls) == 1
