"""The report's two plain-text files: the one-line summary and GitLab's metrics report.

* ``summary.txt`` — one line for the Jenkins build description (``currentBuild.description``):
  ``digits: gates 3/3 passed · accuracy 0.973 (champion v2: 0.968)`` or
  ``digits: gates FAILED: accuracy 0.71 < 0.9``; where the register job registered the run
  (``register/model.env``), the line ends ``· registered v3``. Plain text, at most
  :data:`SUMMARY_LIMIT` characters.
* ``metrics.txt`` — the evaluation's numeric metrics and the gate counts for GitLab's metrics
  report (``artifacts:reports:metrics``), which "should conform to the OpenMetrics format" and is
  shown in the merge-request widget against the target branch
  (https://docs.gitlab.com/ci/testing/metrics_reports/). GitLab drops ``#`` comments, splits
  each line into a name and a value and compares the values *as strings*, so values are written
  with a fixed precision and names are OpenMetrics metric names (``[a-zA-Z_][a-zA-Z0-9_]*``;
  https://prometheus.io/docs/specs/om/open_metrics_spec/#abnf): ``precision/7`` becomes
  ``precision_7``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lepton_ci.report.run import RunRecord

SUMMARY_LIMIT = 200
_FAILED_OP = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!="}
_HEADLINE = ("accuracy", "macro_f1", "r2", "mse", "mae", "loss")


def fmt(value: Any) -> str:
    """A metric value as people read it: 4 significant digits (whole numbers from 10,000 on),
    ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"  # 100000, not 1e+05
    return str(value)


def summary_line(run: RunRecord) -> str:
    """The run in one line of plain text (no HTML, no newline, bounded length)."""
    if run.evaluation is None:
        line = f"{run.model}: not evaluated yet"
    else:
        gates = run.gates
        failed = [g for g in gates if not g.get("passed") and not g.get("skipped")]
        if failed:
            line = f"{run.model}: gates FAILED: " + "; ".join(_failure(g, run) for g in failed)
        else:
            line = f"{run.model}: {_gate_count(gates)} · {_headline(run)}"
    if run.registered_version is not None:
        line += f" · registered v{run.registered_version}"
    line = " ".join(line.split())  # a gate name with a newline stays on one line
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


def _gate_count(gates: Sequence[Mapping[str, Any]]) -> str:
    if not gates:
        return "no gates"
    checked = [g for g in gates if not g.get("skipped")]
    skipped = len(gates) - len(checked)
    return f"gates {len(checked)}/{len(checked)} passed" + (
        f", {skipped} skipped" if skipped else ""
    )


def _headline(run: RunRecord) -> str:
    metrics = run.metrics
    relative = [g for g in run.gates if g.get("champion_value") is not None]
    ordered = [g.get("metric") for g in relative + run.gates] + list(_HEADLINE)
    metric = next((m for m in ordered if isinstance(m, str) and m in metrics), None)
    if metric is None:
        return "no metrics"
    text = f"{metric} {fmt(metrics[metric])}"
    champion = next((g["champion_value"] for g in relative if g.get("metric") == metric), None)
    if champion is not None:
        who = "champion" if run.champion_version is None else f"champion v{run.champion_version}"
        text += f" ({who}: {fmt(champion)})"
    return text


def _failure(gate: Mapping[str, Any], run: RunRecord) -> str:
    metric, op, value, bound = (
        gate.get("metric"),
        gate.get("op"),
        gate.get("value"),
        gate.get("bound"),
    )
    if value is None:
        return f"{metric} not computed"
    if bound is None:  # a relative gate whose champion could not be read
        return f"{metric} {fmt(value)}: {gate.get('note') or 'no champion to compare with'}"
    from lepton_ci.runtime.gates import OPS

    if op in OPS and OPS[op](float(value), float(bound)) and gate.get("ci_low") is not None:
        # passed on the point estimate, failed on the bootstrap interval (significant: true)
        return (
            f"{metric} {fmt(value)} vs champion {fmt(gate.get('champion_value'))}: 95% CI of "
            f"the difference [{fmt(gate.get('ci_low'))}, {fmt(gate.get('ci_high'))}] does not "
            f"clear {fmt(gate.get('champion_delta') or 0.0)}"
        )
    relative = ""
    if gate.get("champion_value") is not None:
        version = run.champion_version
        relative = " (champion" + (f" v{version}" if version is not None else "") + ")"
    failed_op = _FAILED_OP.get(str(op), f"fails {op}")
    return f"{metric} {fmt(value)} {failed_op} {fmt(bound)}{relative}"


_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """``name`` as an OpenMetrics metric name (every other character becomes ``_``)."""
    cleaned = _NAME_BAD.sub("_", name)
    return cleaned if re.match(r"[a-zA-Z_]", cleaned) else f"_{cleaned}"


def metrics_text(run: RunRecord) -> str:
    """GitLab's metrics report: ``name value`` per line, then ``# EOF`` (OpenMetrics' end)."""
    values: dict[str, str] = {}
    for name, value in sorted(run.metrics.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        key = metric_name(str(name))
        while key in values:  # `precision/a b` and `precision/a_b` both clean to one name
            key += "_"
        values[key] = str(value) if isinstance(value, int) else f"{value:.6g}"
    gates = run.gates
    if run.evaluation is not None and gates:
        skipped = sum(1 for g in gates if g.get("skipped"))
        failed = sum(1 for g in gates if not g.get("passed") and not g.get("skipped"))
        values["gates_passed"] = str(len(gates) - skipped - failed)
        values["gates_failed"] = str(failed)
        values["gates_skipped"] = str(skipped)
    lines = [f"{name} {value}" for name, value in values.items()]
    return "\n".join([*lines, "# EOF"]) + "\n"
