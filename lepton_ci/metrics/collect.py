"""What a run directory has to report: whatever exists, even after a failed evaluation."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton_ci.run_dir import RunDir, RunFileError


@dataclass
class RunMetrics:
    """Metrics found in one run directory, grouped by kind."""

    model: str
    version: int | None = None
    git_sha: str | None = None
    train: dict[str, float] = field(default_factory=dict)
    evaluate: dict[str, float] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    gates: dict[str, bool] = field(default_factory=dict)
    passed: bool | None = None
    sources: list[str] = field(default_factory=list)

    def by_kind(self) -> dict[str, dict[str, float]]:
        kinds = {"train": self.train, "evaluate": self.evaluate, "timing": self.timing}
        return {kind: values for kind, values in kinds.items() if values}

    @property
    def empty(self) -> bool:
        return not (self.train or self.evaluate or self.timing or self.gates)

    def names(self) -> list[str]:
        """Every metric as ``kind/name`` (what a failure message lists)."""
        out = [f"{k}/{m}" for k, values in self.by_kind().items() for m in values]
        return out + [f"gate/{g}" for g in self.gates]


def _numbers(data: Any) -> dict[str, float]:
    if not isinstance(data, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def collect(run_dir: str | Path, model: str) -> RunMetrics:
    """Read the manifest (durations, training metrics), ``evaluate/metrics.json`` and
    ``register/model.env``; missing or unreadable files are skipped."""
    layout = RunDir.at(run_dir)
    out = RunMetrics(model=model)
    manifest = _load(layout.manifest)
    if manifest is not None:
        out.sources.append(str(layout.manifest))
        out.git_sha = (manifest.get("git") or {}).get("commit")
        out.timing.update(_numbers(manifest.get("durations")))
        out.train.update(_numbers(manifest.get("metrics")))
    train_metrics = _load(layout.train_dir / "metrics.json")
    if train_metrics is not None:
        out.sources.append(str(layout.train_dir / "metrics.json"))
        out.train.update(_numbers(train_metrics.get("metrics", train_metrics)))
    evaluation = _load(layout.metrics_json)
    if evaluation is not None:
        out.sources.append(str(layout.metrics_json))
        out.evaluate.update(_numbers(evaluation.get("metrics")))
        out.timing.update(_numbers(evaluation.get("durations")))
        for gate in evaluation.get("gates") or []:
            label = str(gate.get("name") or gate.get("metric"))
            out.gates[label] = bool(gate.get("passed") or gate.get("skipped"))
        if isinstance(evaluation.get("passed"), bool):
            out.passed = evaluation["passed"]
    try:
        registered = layout.read_model_env()
    except RunFileError:
        registered = None
    if registered is not None and registered.name == model:
        out.version = registered.version
        out.sources.append(str(layout.model_env))
    return out
