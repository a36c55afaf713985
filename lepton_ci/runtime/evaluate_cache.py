"""The evaluate step's cache: a model's predictions on the held-out data, reused when nothing
they depend on changed.

Running the model over the dataset is the costly part of `evaluate`; metrics, gates and the
champion comparison are recomputed from the predictions every time (cheap), so a new champion,
a changed gate or threshold always takes effect. The key covers what the predictions depend
on: the model (its manifest digest), the dataset's files, the evaluator's code (the source rule
of docs/steps.md, for evaluate's entrypoint or command), the params, the task, the device kind
and the library versions. A miss names what changed, as `dvc status` does.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lepton_ci.runtime.hashing import data_digests
from lepton_ci.runtime.inputs import FileSet, Inputs, key_of
from lepton_ci.runtime.manifest import manifest_digest, versions
from lepton_ci.spec.model import Spec

STEP = "evaluate"


@dataclass(frozen=True)
class Predictions:
    y_true: np.ndarray
    outputs: np.ndarray
    kind: str
    names: list[str] | None
    timings: list[float]  # seconds per batch, measured when the model last ran


def evaluate_inputs(
    spec: Spec, spec_path: Path, run_dir: Path, model_dir: Path, params: dict[str, Any], device: str
) -> Inputs:
    """What evaluating reads, by name."""
    from lepton_ci.runtime.train import source_rule

    root = spec_path.resolve().parent
    dataset = [spec.evaluate.dataset] if spec.evaluate.dataset else []
    rule = source_rule(spec, spec_path, run_dir, spec.evaluate.entrypoint, spec.evaluate.command)
    return {
        "model": manifest_digest(model_dir),
        "data": FileSet(data_digests(root, dataset)),
        "sources": rule.digests(),
        "params": params,
        "task": spec.evaluate.task,
        "entry": {"entrypoint": spec.evaluate.entrypoint, "command": spec.evaluate.command},
        "versions": versions(),
        "device": device.split(":")[0],
    }


def entry_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"evaluate-{key}.npz"


def load(cache_dir: Path, inputs: Inputs) -> Predictions | None:
    """The cached predictions for ``inputs``, or None (absent or unreadable)."""
    path = entry_path(cache_dir, key_of(inputs))
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["class_names"]] if "class_names" in data.files else None
            return Predictions(
                data["y_true"],
                data["outputs"],
                str(data["output_kind"]),
                names,
                [float(t) for t in data["timings"]],
            )
    except (OSError, KeyError, ValueError):
        return None


def save(cache_dir: Path, inputs: Inputs, predictions: Predictions) -> None:
    """Store ``predictions`` under ``inputs``' key (written whole, then renamed)."""
    path = entry_path(cache_dir, key_of(inputs))
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "y_true": predictions.y_true,
        "outputs": predictions.outputs,
        "output_kind": np.array(predictions.kind),
        "timings": np.array(predictions.timings, dtype=np.float64),
    }
    if predictions.names is not None:
        arrays["class_names"] = np.array(predictions.names)
    fd, name = tempfile.mkstemp(prefix=".evaluate-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
