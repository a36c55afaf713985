"""Prometheus alert rules and a Grafana dashboard for the served model (pure rendering).

Metric names are those ``lepton-ci serve`` exposes (:mod:`lepton_ci.serve.metrics`; copied in
:mod:`lepton_ci.deploy.metric_names` so rendering never imports the server). Every rule is
scoped to this model by joining on ``lepton_model_info{model=...}``, which also puts the
serving ``version`` on each alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lepton_ci.deploy import metric_names as m
from lepton_ci.render.escape import render_template
from lepton_ci.render.files import GeneratedFile

if TYPE_CHECKING:
    from lepton_ci.pipeline import Pipeline
    from lepton_ci.spec.model import Spec

ERROR_RATIO = 0.05  # share of /predict answers that are 5xx
LATENCY_P95_SECONDS = 0.5
LATENCY_P99_SECONDS = 1.0
STALE_DAYS = 30  # no retraining schedule
STALE_DAYS_SCHEDULED = 14  # with schedule.retrain: a missed run or two shows up
WINDOW = "5m"


@dataclass(frozen=True)
class AlertRule:
    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


def promql_str(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _scoped(expr: str, model: str) -> str:
    """``expr`` (by instance) joined with the model's info series: per model, with version."""
    info = f"max by (instance, model, version) ({m.MODEL_INFO}{{model={promql_str(model)}}})"
    return f"({expr}) * on (instance) group_left (model, version) {info}"


def _predict(extra: str = "") -> str:
    return f'{{route="/predict"{extra}}}'


def alert_rules(spec: Spec) -> list[AlertRule]:
    model = spec.model_name
    requests = m.REQUESTS_TOTAL
    server_errors = _predict(', status=~"5.."')
    errors = (
        f"sum by (instance) (rate({requests}{server_errors}[{WINDOW}]))"
        f" / sum by (instance) (rate({requests}{_predict()}[{WINDOW}]))"
    )

    def quantile(q: float) -> str:
        return (
            f"histogram_quantile({q}, sum by (instance, le) "
            f"(rate({m.LATENCY_BUCKET}{_predict()}[{WINDOW}])))"
        )

    stale_days = STALE_DAYS_SCHEDULED if spec.schedule.retrain else STALE_DAYS
    age = f"time() - max by (instance) ({m.MODEL_CREATED})"
    return [
        AlertRule(
            "LeptonModelHighErrorRate",
            f"{_scoped(errors, model)} > {ERROR_RATIO}",
            "5m",
            "critical",
            f"{model}: more than {ERROR_RATIO:.0%} of predictions fail",
            "{{ $labels.instance }} (version {{ $labels.version }}) answers "
            "{{ $value | humanizePercentage }} of /predict requests with a 5xx status.",
        ),
        AlertRule(
            "LeptonModelLatencyP95High",
            f"{_scoped(quantile(0.95), model)} > {LATENCY_P95_SECONDS}",
            "10m",
            "warning",
            f"{model}: p95 prediction latency above {LATENCY_P95_SECONDS}s",
            "p95 latency of /predict on {{ $labels.instance }} is {{ $value | humanizeDuration }}.",
        ),
        AlertRule(
            "LeptonModelLatencyP99High",
            f"{_scoped(quantile(0.99), model)} > {LATENCY_P99_SECONDS}",
            "10m",
            "critical",
            f"{model}: p99 prediction latency above {LATENCY_P99_SECONDS}s",
            "p99 latency of /predict on {{ $labels.instance }} is {{ $value | humanizeDuration }}.",
        ),
        AlertRule(
            "LeptonModelStale",
            f"{_scoped(age, model)} > {stale_days * 86400}",
            "1h",
            "warning",
            f"{model}: the served model is older than {stale_days} days",
            "{{ $labels.instance }} serves version {{ $labels.version }}, trained "
            "{{ $value | humanizeDuration }} ago; retrain and redeploy.",
        ),
    ]


def dashboard(spec: Spec) -> str:
    model = spec.model_name
    scope = 'instance=~"$instance"'
    by_status = f'sum by (status) (rate({m.REQUESTS_TOTAL}{{route="/predict", {scope}}}[{WINDOW}]))'
    error_ratio = (
        f'sum(rate({m.REQUESTS_TOTAL}{{route="/predict", status=~"5..", {scope}}}[{WINDOW}]))'
        f' / sum(rate({m.REQUESTS_TOTAL}{{route="/predict", {scope}}}[{WINDOW}]))'
    )

    def q(value: float) -> dict[str, str]:
        return {
            "expr": f"histogram_quantile({value}, sum by (le) (rate({m.LATENCY_BUCKET}"
            f'{{route="/predict", {scope}}}[{WINDOW}])))',
            "legend": f"p{round(value * 100)}",
        }

    panels: list[dict[str, Any]] = [
        {
            "title": "Predictions per second by status",
            "type": "timeseries",
            "unit": "reqps",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8},
            "targets": [{"expr": by_status, "legend": "{{status}}"}],
        },
        {
            "title": "Error ratio (5xx)",
            "type": "timeseries",
            "unit": "percentunit",
            "grid": {"x": 12, "y": 0, "w": 12, "h": 8},
            "targets": [{"expr": error_ratio, "legend": "5xx"}],
        },
        {
            "title": "Latency of /predict",
            "type": "timeseries",
            "unit": "s",
            "grid": {"x": 0, "y": 8, "w": 12, "h": 8},
            "targets": [q(0.5), q(0.95), q(0.99)],
        },
        {
            "title": "Requests in flight",
            "type": "timeseries",
            "unit": "short",
            "grid": {"x": 12, "y": 8, "w": 12, "h": 8},
            "targets": [
                {"expr": f"sum by (instance) ({m.IN_FLIGHT}{{{scope}}})", "legend": "{{instance}}"}
            ],
        },
        {
            "title": "Serving version",
            "type": "stat",
            "unit": "none",
            "grid": {"x": 0, "y": 16, "w": 12, "h": 4},
            "targets": [
                {
                    "expr": f"max by (version) ({m.MODEL_INFO}{{model={promql_str(model)}, "
                    f"{scope}}})",
                    "legend": "version {{version}}",
                }
            ],
        },
        {
            "title": "Model age",
            "type": "stat",
            "unit": "s",
            "grid": {"x": 12, "y": 16, "w": 12, "h": 4},
            "targets": [{"expr": f"time() - max({m.MODEL_CREATED}{{{scope}}})", "legend": "age"}],
        },
    ]
    return render_template(
        "monitoring/dashboard.json.j2",
        title=f"lepton-ci: {spec.project.name}",
        uid=re.sub(r"[^a-zA-Z0-9-]", "-", f"lepton-{model}")[:40],
        model=model,
        instance_query=f"label_values({m.MODEL_INFO}{{model={promql_str(model)}}}, instance)",
        panels=panels,
    )


def render_alerts(spec: Spec) -> str:
    return render_template(
        "monitoring/alerts.yaml.j2",
        group=f"lepton-{spec.model_name}",
        model=spec.model_name,
        rules=alert_rules(spec),
    )


def monitoring_outputs(spec: Spec, pipeline: Pipeline, spec_path: str) -> list[GeneratedFile]:
    """``monitoring/alerts.yaml`` (Prometheus rules) and ``monitoring/dashboard.json``."""
    return [
        GeneratedFile("monitoring/alerts.yaml", render_alerts(spec), "#", spec_path),
        GeneratedFile("monitoring/dashboard.json", dashboard(spec), None, spec_path),
    ]
