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
    assert "SUCCESS: 10 rules found" in result.stdout
    rules = YAML(typ="safe").load(files["monitoring/alerts.yaml"])["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {
        "LeptonModelHighErrorRate",
        "LeptonModelLatencyP95High",
        "LeptonModelLatencyP99High",
        "LeptonModelStale",
        "LeptonModelMemoryNearLimit",
        "LeptonModelMemoryGrowth",
        "LeptonModelCpuSaturated",
        "LeptonModelFileDescriptorsLow",
        "LeptonModelFeatureDrift",
        "LeptonModelPredictionDrift",
    }


def test_dashboard_is_grafana_json_over_the_served_metrics(
    make_project: Callable[..., Project],
) -> None:
    board = json.loads(outputs(make_project(ENVS))["monitoring/dashboard.json"])
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert any("lepton_http_request_duration_seconds_bucket" in e for e in exprs)
    assert any('lepton_model_info{model="deploy-test"' in e for e in exprs)
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    titles = {p["title"]: p for p in board["panels"]}
    memory = [t["expr"] for t in titles["Memory by version"]["targets"]]
    assert "process_resident_memory_bytes" in memory[0]
    assert all("group_left (version)" in e for e in memory)
    cpu = [t["expr"] for t in titles["CPU by version (cores)"]["targets"]]
    assert "lepton_cgroup_cpu_usage_seconds_total" in cpu[1]
    drift = [t["expr"] for t in titles["Drift: PSI against the training reference (1h)"]["targets"]]
    assert "increase(lepton_feature_bin_total{" in drift[0] and "[1h]" in drift[0]
    assert "lepton_prediction_reference_ratio{" in drift[1]


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


RESOURCE_TESTS = """
rule_files: [alerts.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # a:1 serves deploy-test in a container limited to 1 GiB and 2 cores
      - series: 'lepton_model_info{instance="a:1", model="deploy-test", version="3"}'
        values: '1x200'
      - series: 'lepton_cgroup_memory_limit_bytes{instance="a:1"}'
        values: '1073741824x200'
      # 800 MiB for 20 minutes, then 1000 MiB (93% of the limit)
      - series: 'lepton_cgroup_memory_usage_bytes{instance="a:1"}'
        values: '838860800x20 1048576000x100'
      - series: 'lepton_cgroup_cpu_limit_cores{instance="a:1"}'
        values: '2x200'
      # 1.9 cores (95% of the limit): 114 CPU-seconds a minute
      - series: 'lepton_cgroup_cpu_usage_seconds_total{instance="a:1"}'
        values: '0+114x200'
      # resident memory: 200 MB for an hour, then 400 MB
      - series: 'process_resident_memory_bytes{instance="a:1"}'
        values: '200000000x60 400000000x140'
      - series: 'process_open_fds{instance="a:1"}'
        values: '100x20 900x180'
      - series: 'process_max_fds{instance="a:1"}'
        values: '1024x200'
      # another model's server, far over every threshold, never alerts for deploy-test
      - series: 'lepton_model_info{instance="b:1", model="other-model", version="1"}'
        values: '1x200'
      - series: 'lepton_cgroup_memory_usage_bytes{instance="b:1"}'
        values: '1073741824x200'
      - series: 'lepton_cgroup_memory_limit_bytes{instance="b:1"}'
        values: '1073741824x200'
    alert_rule_test:
      - eval_time: 25m
        alertname: LeptonModelMemoryNearLimit
        exp_alerts: []
      - eval_time: 40m
        alertname: LeptonModelMemoryNearLimit
        exp_alerts:
          - exp_labels: {severity: critical, model: deploy-test, instance: "a:1", version: "3"}
            exp_annotations:
              summary: "deploy-test: memory above 90% of the container's limit"
              description: "a:1 (version 3) uses 97.66% of its memory limit;
                the OOM killer is near."
      - eval_time: 20m
        alertname: LeptonModelCpuSaturated
        exp_alerts:
          - exp_labels: {severity: warning, model: deploy-test, instance: "a:1", version: "3"}
            exp_annotations:
              summary: "deploy-test: CPU above 90% of the container's limit"
              description: "a:1 (version 3) uses 95% of its CPU limit and is being throttled;
                add replicas or CPU."
      - eval_time: 80m
        alertname: LeptonModelMemoryGrowth
        exp_alerts: []
      - eval_time: 100m
        alertname: LeptonModelMemoryGrowth
        exp_alerts:
          - exp_labels: {severity: warning, model: deploy-test, instance: "a:1", version: "3"}
            exp_annotations:
              summary: "deploy-test: resident memory grew by more than 50% in an hour"
              description: "a:1 (version 3) holds 2 times the memory it held an hour ago."
      - eval_time: 30m
        alertname: LeptonModelFileDescriptorsLow
        exp_alerts:
          - exp_labels: {severity: warning, model: deploy-test, instance: "a:1", version: "3"}
            exp_annotations:
              summary: "deploy-test: more than 80% of file descriptors in use"
              description: "a:1 (version 3) has 87.89% of its file descriptors open;
                new connections will be refused."
"""


def test_resource_alerts_fire_on_memory_cpu_and_descriptors(
    make_project: Callable[..., Project], tmp_path: Path
) -> None:
    """Memory near the cgroup limit (after 10 min), resident memory doubled within the hour
    (after 30 min), CPU at 95 % of the limit, descriptors at 88 %: each alert fires for this
    model with the serving version, and a saturated server of another model raises none."""
    (tmp_path / "alerts.yaml").write_text(outputs(make_project(ENVS))["monitoring/alerts.yaml"])
    (tmp_path / "tests.yaml").write_text(RESOURCE_TESTS)
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
