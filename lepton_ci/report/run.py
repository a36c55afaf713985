"""What a run directory holds for the report: each input is optional, so a run with only some of
them (no evaluation yet, no champion, no per-sample results) still gets the parts it can."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lepton_ci.errors import LeptonError
from lepton_ci.run_dir import ModelEnv, RunDir
from lepton_ci.runtime.metric_log import FILE_NAME, MetricPoint, read_metric_log
from lepton_ci.runtime.metrics import Samples

SAMPLES_FILE = "samples.npz"  # = runtime.evaluate.SAMPLES_FILE; that module takes 0.4 s to import


@dataclass(frozen=True)
class RunRecord:
    """The report's inputs, read once from ``run_dir``."""

    run_dir: Path
    manifest: dict[str, Any] | None  # train/manifest.json
    evaluation: dict[str, Any] | None  # evaluate/metrics.json
    points: list[MetricPoint]  # train/train_metrics.jsonl
    samples: dict[str, np.ndarray] | None  # evaluate/samples.npz
    model_env: ModelEnv | None = None  # register/model.env: the register job's hand-off

    @property
    def model(self) -> str:
        for source in (self.evaluation, self.manifest):
            if source and source.get("model"):
                return str(source["model"])
        return "model"

    @property
    def metrics(self) -> dict[str, Any]:
        return dict((self.evaluation or {}).get("metrics") or {})

    @property
    def gates(self) -> list[dict[str, Any]]:
        return list((self.evaluation or {}).get("gates") or [])

    @property
    def champion_version(self) -> Any:
        champion = (self.evaluation or {}).get("champion")
        return champion.get("version") if isinstance(champion, dict) else None

    @property
    def registered_version(self) -> int | None:
        """The version the register job registered for this run (``register/model.env``), or
        None: no such file (register did not run: a feature branch, a failed gate, its kill
        switch), one naming another model, or a run whose gates failed (register refuses those,
        so the file is an older run's)."""
        if self.model_env is None or self.model_env.name != self.model:
            return None
        if self.evaluation is None or self.evaluation.get("passed") is False:
            return None
        return self.model_env.version

    @property
    def task(self) -> str | None:
        """``classification`` or ``regression`` as the per-sample results show, else None."""
        if self.samples is None or len(self.samples.get("y_pred", ())) == 0:
            return None
        return "classification" if "correct" in self.samples else "regression"


def read_run(run_dir: Path) -> RunRecord:
    """Read ``run_dir`` (``.lepton/run``); a run with neither a manifest nor an evaluation is
    an error, and so is a file that exists but cannot be read."""
    run_dir = Path(run_dir)
    run = RunDir.at(run_dir)
    manifest = _read_json(run.manifest)
    evaluation = _read_json(run.metrics_json)
    if manifest is None and evaluation is None:
        raise LeptonError(
            f"{run_dir} has neither train/manifest.json nor evaluate/metrics.json",
            hint="run `lepton-ci train` and `lepton-ci evaluate` first",
        )
    return RunRecord(
        run_dir=run_dir,
        manifest=manifest,
        evaluation=evaluation,
        points=read_metric_log(run.train_dir / FILE_NAME),
        samples=_read_samples(run.evaluate_dir / SAMPLES_FILE),
        model_env=run.read_model_env(),
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LeptonError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LeptonError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_samples(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        return Samples.load(path).arrays
    except (OSError, ValueError) as exc:
        raise LeptonError(f"{path}: not a readable .npz file ({exc})") from None
