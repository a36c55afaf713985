"""Alert rules and dashboard: judged by promtool (syntax and rule unit tests) and JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from lepton_ci.render.outputs import generated_files
from tests.deploy.conftest import Project

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus) missing")
ENVS = "    - name: prod\n      target: docker\n"


def outputs(project: Project) -> dict[str, str]:
    return {
        f.path: f.content for f in generated_files(project.spec) if f.path.startswith("monitoring/")
    }


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_init_renders_rules_that_promtool_accepts(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    files = outputs(make_project(ENVS))
    assert set(files) == {"monitoring/alerts.yaml", "monitoring/dashboard.json"}
    (tmp_path / "alerts.yaml").write_text(files["monitoring/alerts.yaml"])
    result = promtool("check", "rules", "alerts.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout
    rules = YAML(typ="safe").load(files["monitoring/alerts.yaml"])["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {
        "LeptonModelHighErrorRate",
        "LeptonModelLatencyP95High",
        "LeptonModelLatencyP99High",
        "LeptonModelStale",
    }


def test_dashboard_is_grafana_json_over_the_served_metrics(
    make_project: Callable[..., Project],
) -> None:
    board = json.loads(outputs(make_project(ENVS))["monitoring/dashboard.json"])
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert any("lepton_http_request_duration_seconds_bucket" in e for e in exprs)
    assert any('lepton_model_info{model="deploy-test"' in e for e in exprs)
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])


RULE_TESTS = """
rule_files: [alerts.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # deploy-test answers 10% of /predict with 500; another model on another instance too
      - series: 'lepton_http_requests_total{instance="a:1", route="/predict", status="200"}'
        values: '0+90x20'
      - series: 'lepton_http_requests_total{instance="a:1", route="/predict", status="500"}'
        values: '0+10x20'
      - series: 'lepton_model_info{instance="a:1", model="deploy-test", version="7"}'
        values: '1x200'
      - series: 'lepton_http_requests_total{instance="b:1", route="/predict", status="500"}'
        values: '0+50x20'
      - series: 'lepton_model_info{instance="b:1", model="other-model", version="1"}'
        values: '1x20'
      # trained 40 days before the test's time zero
      - series: 'lepton_model_created_timestamp_seconds{instance="a:1"}'
        values: '-3456000x200'
    alert_rule_test:
      - eval_time: 3m
        alertname: LeptonModelHighErrorRate
        exp_alerts: []
      - eval_time: 12m
        alertname: LeptonModelHighErrorRate
        exp_alerts:
          - exp_labels: {severity: critical, model: deploy-test, instance: "a:1", version: "7"}
            exp_annotations:
              summary: "deploy-test: more than 5% of predictions fail"
              description: "a:1 (version 7) answers 10% of /predict requests with a 5xx status."
      - eval_time: 2h
        alertname: LeptonModelStale
        exp_alerts:
          - exp_labels: {severity: warning, model: deploy-test, instance: "a:1", version: "7"}
            exp_annotations:
              summary: "deploy-test: the served model is older than 30 days"
              description: "a:1 serves version 7, trained 40d 2h 0m 0s ago; retrain and redeploy."
"""


def test_alerts_fire_for_this_model_only(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    """promtool's rule unit tests: the error-rate alert fires after its `for`, carries the
    serving version, and ignores other models' servers; staleness follows the model's age."""
    (tmp_path / "alerts.yaml").write_text(outputs(make_project(ENVS))["monitoring/alerts.yaml"])
    (tmp_path / "tests.yaml").write_text(RULE_TESTS)
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
