"""Debian's Prometheus scrapes a model deployed with the local target (through the front) on
loopback, evaluates our rules, and the metrics come back through its HTTP API; real drifted
traffic fires the drift alert."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lepton_ci import drift, metric_names
from lepton_ci.deploy.core import deploy
from lepton_ci.deploy.local import LocalRuntime
from lepton_ci.deploy.probe import get, post_json
from lepton_ci.netutil import free_port
from lepton_ci.render.monitoring import psi as promql_psi
from lepton_ci.render.monitoring import render_alerts
from lepton_ci.runtime.manifest import read_manifest
from tests.deploy.conftest import Project
from tests.deploy.models import EXAMPLE, write_model

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) missing"),
]


def deploy_model(
    make_project: Callable[..., Project], extra: str = "", drift: dict[str, Any] | None = None
) -> Iterator[tuple[Project, str]]:
    """The 4 -> 3 classifier registered and deployed to a local environment: (project, url)."""
    port = free_port()
    envs = f"    - name: dev\n      target: local\n      port: {port}\n"
    project = make_project(envs, port=port, extra=extra)
    model_dir = write_model(project.run_dir / "train", seed=3, drift=drift)
    project.register(read_manifest(model_dir))
    outcome = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    yield project, outcome.url
    LocalRuntime(project.root, "dev", "127.0.0.1", port).shutdown()


@contextlib.contextmanager
def running_prometheus(project: Project, url: str, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping ``url`` and evaluating the project's rules every second."""
    port = free_port()
    (tmp_path / "alerts.yaml").write_text(render_alerts(project.spec))
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp_path / "alerts.yaml")],
                "scrape_configs": [
                    {
                        "job_name": "lepton-deploy-test",
                        "static_configs": [{"targets": [url.removeprefix("http://")]}],
                    }
                ],
            }
        )
    )
    assert PROMETHEUS is not None
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def deployed(make_project: Callable[..., Project]) -> Iterator[tuple[Project, str]]:
    yield from deploy_model(make_project)


@pytest.fixture
def prometheus(deployed: tuple[Project, str], tmp_path: Path) -> Iterator[str]:
    with running_prometheus(*deployed, tmp_path) as base:
        yield base


def api(base: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{base}/api/v1/{path}{query}", timeout=5) as resp:
        return json.loads(resp.read())["data"]


def wait_for(
    base: str,
    promql: str,
    timeout: float = 60.0,
    predicate: Callable[[list[dict[str, Any]]], bool] = bool,
) -> list[dict[str, Any]]:
    """The first non-empty answer to ``promql`` (that ``predicate`` accepts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = api(base, "query", query=promql)["result"]
            if result and predicate(result):
                return result  # type: ignore[no-any-return]
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never answered {promql!r}")


def test_served_metrics_carry_every_name_the_rules_use(deployed: tuple[Project, str]) -> None:
    _, url = deployed
    assert post_json(f"{url}/predict", EXAMPLE)[0] == 200
    status, body = get(f"{url}/metrics")
    exposition = body.decode()
    assert status == 200
    for name in metric_names.ALL:
        assert f"\n{name}" in exposition, f"{name} is not exposed by lepton-ci serve"


def test_prometheus_scrapes_the_deployed_model_and_loads_the_rules(
    deployed: tuple[Project, str], prometheus: str
) -> None:
    _, url = deployed
    for _ in range(5):
        assert post_json(f"{url}/predict", EXAMPLE)[0] == 200
    [info] = wait_for(prometheus, 'lepton_model_info{model="deploy-test"}')
    assert info["metric"]["version"] == "1"
    assert info["metric"]["job"] == "lepton-deploy-test"
    [count] = wait_for(prometheus, 'sum(lepton_http_requests_total{route="/predict"}) >= 5')
    assert float(count["value"][1]) >= 5
    groups = api(prometheus, "rules")["groups"]
    assert {r["name"] for g in groups for r in g["rules"]} >= {
        "LeptonModelHighErrorRate",
        "LeptonModelStale",
    }
    assert all(r["health"] != "err" for g in groups for r in g["rules"])


# -- drift -----------------------------------------------------------------------------------

FEATURES = ("f0", "f1", "f2", "f3")
# short enough for a test: PSI over 15 s of traffic, alerting after one more evaluation
DRIFT_SPEC = "monitoring:\n  drift: {window: 15s, for: 1s, min_samples: 300}\n"
DRIFT_ALERTS = 'ALERTS{alertname=~"LeptonModel(Feature|Prediction)Drift"}'


@pytest.fixture
def drifting(make_project: Callable[..., Project], tmp_path: Path) -> Iterator[tuple[Project, str]]:
    """The classifier with a training reference: 5000 rows of N(0, 1) per feature and its
    predictions on them."""
    import torch

    features = np.random.default_rng(0).normal(size=(5000, 4))
    model = torch.jit.load(str(write_model(tmp_path / "probe", seed=3) / "model.pt"))
    predicted = model(torch.tensor(features, dtype=torch.float32)).argmax(dim=1).numpy()
    reference = drift.sample(features, FEATURES, predicted).reference("classification")
    yield from deploy_model(make_project, DRIFT_SPEC, reference.to_manifest())


def send(url: str, rows: np.ndarray) -> None:
    for batch in np.array_split(rows, max(1, len(rows) // 200)):
        assert post_json(f"{url}/predict", {"inputs": batch.tolist()})[0] == 200


def test_drifted_traffic_fires_the_feature_drift_alert_for_that_feature_only(
    drifting: tuple[Project, str], tmp_path: Path
) -> None:
    """Undrifted traffic (N(0, 1) again) gives every feature a PSI far below 0.1 and no drift
    alert; then `f2` shifts by 1.5 standard deviations and LeptonModelFeatureDrift fires for
    `f2` alone."""
    project, url = drifting
    exposition = get(f"{url}/metrics")[1].decode()
    for name in metric_names.DRIFT:
        assert f"\n{name}" in exposition, f"{name} is not exposed with a training reference"
    rng = np.random.default_rng(1)
    psi = promql_psi(
        metric_names.FEATURE_BIN_TOTAL,
        metric_names.FEATURE_REFERENCE_RATIO,
        ("instance", "feature"),
        "15s",
    )
    with running_prometheus(project, url, tmp_path) as prometheus:
        wait_for(prometheus, 'lepton_model_info{model="deploy-test"}')
        send(url, rng.normal(size=(1000, 4)))
        rows = f"sum by (feature) (increase({metric_names.FEATURE_BIN_TOTAL}[15s])) >= 300"
        assert len(wait_for(prometheus, rows, predicate=lambda r: len(r) == 4)) == 4
        undrifted = wait_for(prometheus, psi, predicate=lambda r: len(r) == 4)
        assert all(float(r["value"][1]) < 0.1 for r in undrifted), undrifted
        time.sleep(3)  # three rule evaluations over a window of undrifted rows
        assert api(prometheus, "query", query=DRIFT_ALERTS)["result"] == []

        shifted = rng.normal(size=(2000, 4))
        shifted[:, 2] += 1.5
        send(url, shifted)
        firing = 'ALERTS{alertname="LeptonModelFeatureDrift", alertstate="firing"}'
        wait_for(prometheus, firing)
        time.sleep(2)  # any other feature would have fired by now
        alerts = api(prometheus, "query", query=firing)["result"]
    assert {a["metric"]["feature"] for a in alerts} == {"f2"}
    assert {a["metric"]["version"] for a in alerts} == {"1"}
