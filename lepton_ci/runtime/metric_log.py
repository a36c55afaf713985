"""The training-metrics log ``train/train_metrics.jsonl`` (docs/report.md, "Training metrics from a
command-style train step").

One JSON object ``{"name": str, "step": int | null, "value": number}`` per line. Entrypoint-style
training writes it through ``ctx.log_metric``; a command-style train step appends to the file
named by ``$LEPTON_METRICS_FILE`` (:data:`ENV_VAR`). :func:`read_metric_log` validates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lepton_ci.errors import StepError

FILE_NAME = "train_metrics.jsonl"
ENV_VAR = "LEPTON_METRICS_FILE"


@dataclass(frozen=True)
class MetricPoint:
    """One logged value: ``step`` is ``None`` when the writer gave none."""

    name: str
    step: int | None
    value: float


def read_metric_log(path: Path) -> list[MetricPoint]:
    """The points in ``path`` (none if it is absent); a bad line is a :class:`StepError`
    naming ``path:line`` and what is wrong."""
    if not path.is_file():
        return []
    points = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            points.append(_parse(line, f"{path}:{number}"))
    return points


def last_values(points: list[MetricPoint]) -> dict[str, float]:
    """Each metric's last logged value (the manifest's ``train_metrics``)."""
    return {point.name: point.value for point in points}


def _parse(line: str, where: str) -> MetricPoint:
    expected = 'expected one JSON object {"name": str, "step": int, "value": number}'
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StepError(f"{where}: not JSON ({exc.msg}); {expected}", hint=_HINT) from None
    if not isinstance(row, dict):
        raise StepError(f"{where}: {expected}, got {type(row).__name__}", hint=_HINT)
    name, step, value = row.get("name"), row.get("step"), row.get("value")
    problem = _problem(name, step, value)
    if problem:
        raise StepError(f"{where}: needs {problem}; got {line.strip()[:120]}", hint=_HINT)
    assert isinstance(value, (int, float))
    return MetricPoint(str(name), step if isinstance(step, int) else None, float(value))


def _problem(name: object, step: object, value: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "a non-empty string 'name'"
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        return "an integer or null 'step'"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "a number 'value'"
    return None


_HINT = f'append lines like {{"name": "loss", "step": 3, "value": 0.12}} to ${ENV_VAR}'
