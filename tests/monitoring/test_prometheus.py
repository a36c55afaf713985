"""Debian's Prometheus scrapes a model deployed with the local target (through the front) on
loopback, evaluates our rules, and the metrics come back through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lepton_ci import metric_names
from lepton_ci.deploy.core import deploy
from lepton_ci.deploy.local import LocalRuntime
from lepton_ci.deploy.probe import get, post_json
from lepton_ci.netutil import free_port
from lepton_ci.render.monitoring import render_alerts
from lepton_ci.runtime.manifest import read_manifest
from tests.deploy.conftest import Project
from tests.deploy.models import EXAMPLE, write_model

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) missing"),
]


@pytest.fixture
def deployed(make_project: Callable[..., Project]) -> Iterator[tuple[Project, str]]:
    port = free_port()
    project = make_project(f"    - name: dev\n      target: local\n      port: {port}\n", port=port)
    model_dir = write_model(project.run_dir / "train", seed=3)
    project.register(read_manifest(model_dir))
    outcome = deploy(project.spec, "dev", run_dir=project.run_dir, root=project.root)
    yield project, outcome.url
    LocalRuntime(project.root, "dev", "127.0.0.1", port).shutdown()


@pytest.fixture
def prometheus(deployed: tuple[Project, str], tmp_path: Path) -> Iterator[str]:
    project, url = deployed
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


def api(base: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{base}/api/v1/{path}{query}", timeout=5) as resp:
        return json.loads(resp.read())["data"]


def wait_for(base: str, promql: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = api(base, "query", query=promql)["result"]
            if result:
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
