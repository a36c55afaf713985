"""Prometheus alert rules and a Grafana dashboard for the served model (pure rendering).

Metric names are those ``lepton-ci serve`` exposes (:mod:`lepton_ci.serve.metrics`; copied in
:mod:`lepton_ci.metric_names` so rendering never imports the server). Every rule is
scoped to this model by joining on ``lepton_model_info{model=...}``, which also puts the
serving ``version`` on each alert.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lepton_ci import __version__
from lepton_ci import metric_names as m
from lepton_ci.render.escape import render_template
from lepton_ci.render.files import DIGEST_PLACEHOLDER, GeneratedFile

if TYPE_CHECKING:
    from lepton_ci.pipeline import Pipeline
    from lepton_ci.spec.model import Spec

ERROR_RATIO = 0.05  # share of /predict answers that are 5xx
LATENCY_P95_SECONDS = 0.5
LATENCY_P99_SECONDS = 1.0
STALE_DAYS = 30  # no retraining schedule
STALE_DAYS_SCHEDULED = 14  # with schedule.retrain: a missed run or two shows up
WINDOW = "5m"
MEMORY_LIMIT_RATIO = 0.9  # cgroup memory used / its limit: the OOM killer is near
MEMORY_GROWTH_RATIO = 1.5  # resident memory now / an hour ago: a leak, or a cache without bound
CPU_SATURATION_RATIO = 0.9  # CPU used / the cgroup's CPU limit: throttled, latency follows
FD_RATIO = 0.8  # open file descriptors / the process limit: new connections will fail
PSI_EPSILON = 1e-4  # the smallest share a bin counts with: lepton_ci.drift.EPSILON (numpy-free)


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
        *resource_rules(model),
        *drift_rules(spec),
    ]


def resource_rules(model: str) -> list[AlertRule]:
    """Memory near the container's limit or growing, CPU saturating the limit, descriptors
    running out. cgroup rules stay silent outside a container or without a limit (no series)."""
    memory = f"max by (instance) ({m.CGROUP_MEMORY}) / max by (instance) ({m.CGROUP_MEMORY_LIMIT})"
    growth = f"max by (instance) ({m.PROCESS_RSS}) / max by (instance) ({m.PROCESS_RSS} offset 1h)"
    cpu = (
        f"sum by (instance) (rate({m.CGROUP_CPU_TOTAL}[{WINDOW}]))"
        f" / max by (instance) ({m.CGROUP_CPU_LIMIT})"
    )
    fds = f"max by (instance) ({m.PROCESS_OPEN_FDS}) / max by (instance) ({m.PROCESS_MAX_FDS})"
    where = "{{ $labels.instance }} (version {{ $labels.version }})"
    return [
        AlertRule(
            "LeptonModelMemoryNearLimit",
            f"{_scoped(memory, model)} > {MEMORY_LIMIT_RATIO}",
            "10m",
            "critical",
            f"{model}: memory above {MEMORY_LIMIT_RATIO:.0%} of the container's limit",
            f"{where} uses {{{{ $value | humanizePercentage }}}} of its memory limit; "
            "the OOM killer is near.",
        ),
        AlertRule(
            "LeptonModelMemoryGrowth",
            f"{_scoped(growth, model)} > {MEMORY_GROWTH_RATIO}",
            "30m",
            "warning",
            f"{model}: resident memory grew by more than {MEMORY_GROWTH_RATIO - 1:.0%} in an hour",
            f"{where} holds {{{{ $value | humanize }}}} times the memory it held an hour ago.",
        ),
        AlertRule(
            "LeptonModelCpuSaturated",
            f"{_scoped(cpu, model)} > {CPU_SATURATION_RATIO}",
            "15m",
            "warning",
            f"{model}: CPU above {CPU_SATURATION_RATIO:.0%} of the container's limit",
            f"{where} uses {{{{ $value | humanizePercentage }}}} of its CPU limit and is "
            "being throttled; add replicas or CPU.",
        ),
        AlertRule(
            "LeptonModelFileDescriptorsLow",
            f"{_scoped(fds, model)} > {FD_RATIO}",
            "5m",
            "warning",
            f"{model}: more than {FD_RATIO:.0%} of file descriptors in use",
            f"{where} has {{{{ $value | humanizePercentage }}}} of its file descriptors open; "
            "new connections will be refused.",
        ),
    ]


def psi(counts: str, reference: str, by: tuple[str, ...], window: str) -> str:
    """The PSI per ``by`` over ``window`` (see :mod:`lepton_ci.drift`): a bin's served share
    ``a`` is its increase over the increase of all bins, its reference share ``e`` the ratio
    gauge; both clamped to at least :data:`PSI_EPSILON`, PSI = Σ (a - e) · ln(a / e)."""
    group = ", ".join(by)
    per_bin = f"{group}, bin"
    increase = f"increase({counts}[{window}])"
    a = (
        f"clamp_min(sum by ({per_bin}) ({increase}) / on ({group}) group_left "
        f"sum by ({group}) ({increase}), {PSI_EPSILON})"
    )
    e = f"clamp_min(max by ({per_bin}) ({reference}), {PSI_EPSILON})"
    return f"sum by ({group}) (({a} - {e}) * ln({a} / {e}))"


def drift_rules(spec: Spec) -> list[AlertRule]:
    """A feature's, or the predictions', PSI against the training reference above
    ``monitoring.drift.psi_threshold``, once the window holds ``min_samples`` served rows.
    Silent for a model whose manifest has no reference (no series)."""
    model, drift = spec.model_name, spec.monitoring.drift
    window, threshold = drift.window, drift.psi_threshold

    def rule(name: str, counts: str, reference: str, by: tuple[str, ...], what: str) -> AlertRule:
        rows = f"sum by ({', '.join(by)}) (increase({counts}[{window}]))"
        expr = (
            f"{_scoped(psi(counts, reference, by, window), model)} > {threshold} "
            f"and on ({', '.join(by)}) {rows} >= {drift.min_samples}"
        )
        return AlertRule(
            name,
            expr,
            drift.for_,
            "warning",
            f"{model}: {what} drifted from the training data",
            f"{what} on {{{{ $labels.instance }}}} (version {{{{ $labels.version }}}}): PSI "
            f'{{{{ printf "%.3f" $value }}}} against the training reference over the last '
            f"{window} (threshold {threshold}).",
        )

    return [
        rule(
            "LeptonModelFeatureDrift",
            m.FEATURE_BIN_TOTAL,
            m.FEATURE_REFERENCE_RATIO,
            ("instance", "feature"),
            "feature {{ $labels.feature }}",
        ),
        rule(
            "LeptonModelPredictionDrift",
            m.PREDICTION_BIN_TOTAL,
            m.PREDICTION_REFERENCE_RATIO,
            ("instance",),
            "the predictions",
        ),
    ]


def dashboard(spec: Spec, spec_path: str = "lepton.yaml") -> str:
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

    def per_version(expr: str, what: str) -> dict[str, str]:
        info = f"max by (instance, version) ({m.MODEL_INFO}{{model={promql_str(model)}, {scope}}})"
        return {
            "expr": f"({expr}) * on (instance) group_left (version) {info}",
            "legend": f"{what} v{{{{version}}}} {{{{instance}}}}",
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
        {
            "title": "Memory by version",
            "type": "timeseries",
            "unit": "bytes",
            "grid": {"x": 0, "y": 20, "w": 12, "h": 8},
            "targets": [
                per_version(f"max by (instance) ({m.PROCESS_RSS}{{{scope}}})", "resident"),
                per_version(f"max by (instance) ({m.CGROUP_MEMORY}{{{scope}}})", "container"),
                per_version(f"max by (instance) ({m.CGROUP_MEMORY_LIMIT}{{{scope}}})", "limit"),
            ],
        },
        {
            "title": "CPU by version (cores)",
            "type": "timeseries",
            "unit": "short",
            "grid": {"x": 12, "y": 20, "w": 12, "h": 8},
            "targets": [
                per_version(
                    f"sum by (instance) (rate({m.PROCESS_CPU_TOTAL}{{{scope}}}[{WINDOW}]))",
                    "process",
                ),
                per_version(
                    f"sum by (instance) (rate({m.CGROUP_CPU_TOTAL}{{{scope}}}[{WINDOW}]))",
                    "container",
                ),
                per_version(f"max by (instance) ({m.CGROUP_CPU_LIMIT}{{{scope}}})", "limit"),
            ],
        },
        drift_panel(spec, scope),
    ]
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    board = {
        "title": f"lepton-ci: {spec.project.name}",
        "uid": re.sub(r"[^a-zA-Z0-9-]", "-", f"lepton-{model}")[:40],
        "description": (
            f"Generated by lepton-ci {__version__} from {spec_path}: do not edit by hand; "
            f"change it and run `lepton-ci render`. {DIGEST_PLACEHOLDER}"
        ),
        "tags": ["lepton-ci", model],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                },
                {
                    "name": "instance",
                    "type": "query",
                    "label": "Instance",
                    "datasource": datasource,
                    "query": f"label_values({m.MODEL_INFO}{{model={promql_str(model)}}}, instance)",
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                },
            ]
        },
        "panels": [
            {
                "id": number,
                "title": panel["title"],
                "type": panel["type"],
                "gridPos": panel["grid"],
                "datasource": datasource,
                "fieldConfig": {"defaults": {"unit": panel["unit"]}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + i), "expr": t["expr"], "legendFormat": t["legend"]}
                    for i, t in enumerate(panel["targets"])
                ],
            }
            for number, panel in enumerate(panels, start=1)
        ],
    }
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def drift_panel(spec: Spec, scope: str) -> dict[str, Any]:
    window = spec.monitoring.drift.window
    features = psi(
        f"{m.FEATURE_BIN_TOTAL}{{{scope}}}",
        f"{m.FEATURE_REFERENCE_RATIO}{{{scope}}}",
        ("instance", "feature"),
        window,
    )
    predictions = psi(
        f"{m.PREDICTION_BIN_TOTAL}{{{scope}}}",
        f"{m.PREDICTION_REFERENCE_RATIO}{{{scope}}}",
        ("instance",),
        window,
    )
    return {
        "title": f"Drift: PSI against the training reference ({window})",
        "type": "timeseries",
        "unit": "none",
        "grid": {"x": 0, "y": 28, "w": 24, "h": 8},
        "targets": [
            {"expr": features, "legend": "{{feature}} {{instance}}"},
            {"expr": predictions, "legend": "predictions {{instance}}"},
        ],
    }


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
        GeneratedFile("monitoring/dashboard.json", dashboard(spec, spec_path), None, spec_path),
    ]
