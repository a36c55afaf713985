"""Drift against the training data: reference bins, their shares, and the PSI (numpy only).

A train step hands over a sample of its inputs (and the model's predictions on them) in
:data:`REFERENCE_FILE`; the runtime turns it into a :class:`Reference` that the manifest
carries under ``drift``. ``lepton-ci serve`` counts every served row into the same bins
(:mod:`lepton_ci.serve.drift`), and the generated alert rules compute the PSI of the served
shares against the reference shares in PromQL (:mod:`lepton_ci.render.monitoring`).

PSI = Σ (a - e) · ln(a / e) over the bins, with ``e`` the reference share and ``a`` the served
one. As in Evidently (``get_binned_data(..., feel_zeroes=True)`` in
``src/evidently/calculations/stattests/utils.py``, used by ``stattests/psi.py``) an empty bin
counts as a share of :data:`EPSILON`, so the PSI stays finite; here every share is clamped to at
least that, which PromQL's ``clamp_min`` does the same way.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lepton_ci.errors import StepError

BINS = 10  # deciles of the training sample, the classic PSI binning
EPSILON = 1e-4  # the smallest share a bin counts with (Evidently's fill value for empty bins)
REFERENCE_FILE = "drift_reference.npz"
OTHER = "other"  # the bin of a predicted class that training never predicted


@dataclass(frozen=True)
class Histogram:
    """The bins of one variable and the reference's share of each.

    Numeric: ``edges`` are the inner cut points e₁ < … < eₖ; bin 0 holds values ≤ e₁, bin i
    those in (eᵢ, eᵢ₊₁], the last one those > eₖ (Prometheus' ``le`` convention, labelled by
    the upper edge, ``+Inf`` last). Classes: one bin per class the reference holds, then
    :data:`OTHER` (reference share 0) for any other value.
    """

    edges: tuple[float, ...]
    ratios: tuple[float, ...]
    classes: tuple[int, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        if self.classes:
            return (*(str(c) for c in self.classes), OTHER)
        return (*(f"{edge:g}" for edge in self.edges), "+Inf")

    def assign(self, values: np.ndarray) -> np.ndarray:
        """The bin index of each value."""
        if not self.classes:
            return np.searchsorted(np.asarray(self.edges), values, side="left")
        classes = np.asarray(self.classes)
        index = np.searchsorted(classes, values).clip(0, len(classes) - 1)
        return np.where(classes[index] == values, index, len(classes))

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` fall into each bin."""
        return np.bincount(self.assign(values), minlength=len(self.ratios))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"edges": list(self.edges), "ratios": list(self.ratios)}
        if self.classes:
            data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        edges = tuple(float(e) for e in data.get("edges", ()))
        classes = tuple(int(c) for c in data.get("classes", ()))
        ratios = tuple(float(r) for r in data["ratios"])
        bins = len(classes) + 1 if classes else len(edges) + 1
        if len(ratios) != bins:
            raise ValueError(f"{len(ratios)} ratios for {bins} bins")
        return cls(edges, ratios, classes)


def quantile_histogram(values: np.ndarray, bins: int = BINS) -> Histogram:
    """``bins`` quantile bins of ``values``: the edges are sample values (rounded to 6 digits,
    repeated ones merged:
    a feature with few distinct values gets fewer, unequal bins) and the share of each."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    cuts = np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf")
    edges = tuple(sorted({float(f"{c:.6g}") for c in cuts}))
    return _with_ratios(Histogram(edges, ()), values)


def class_histogram(values: np.ndarray) -> Histogram:
    """One bin per predicted class, with the share of each (and :data:`OTHER`, share 0)."""
    values = np.asarray(values).astype(np.int64)
    return _with_ratios(Histogram((), (), tuple(int(c) for c in np.unique(values))), values)


def _with_ratios(histogram: Histogram, values: np.ndarray) -> Histogram:
    bins = len(histogram.classes) + 1 if histogram.classes else len(histogram.edges) + 1
    counts = Histogram(histogram.edges, (0.0,) * bins, histogram.classes).counts(values)
    ratios = tuple(float(c) / max(len(values), 1) for c in counts)
    return Histogram(histogram.edges, ratios, histogram.classes)


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """Σ (a - e) · ln(a / e), both shares clamped to at least :data:`EPSILON`."""
    e = np.clip(np.asarray(expected, dtype=np.float64), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Reference:
    """What the manifest's ``drift`` section holds: the bins of every input feature (in input
    column order) and of the predictions, and how many rows the reference sample had."""

    features: dict[str, Histogram]
    predictions: Histogram | None
    samples: int

    def to_manifest(self) -> dict[str, Any]:
        """A list of features, not a mapping: manifests are written with sorted keys, and the
        order is that of the input columns."""
        return {
            "samples": self.samples,
            "features": [{"name": name, **h.to_dict()} for name, h in self.features.items()],
            "predictions": self.predictions.to_dict() if self.predictions else None,
        }

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Reference | None:
        """The manifest's reference; None when it has none (or one this version cannot read)."""
        section = manifest.get("drift")
        if not isinstance(section, dict):
            return None
        try:
            features = {str(f["name"]): Histogram.from_dict(f) for f in section["features"]}
            predictions = section.get("predictions")
            return cls(
                features,
                Histogram.from_dict(predictions) if predictions else None,
                int(section["samples"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class Sample:
    """The training rows a train step hands over: ``features`` [n, d], one name per column,
    and optionally the model's predictions on those rows [n]."""

    features: np.ndarray
    names: tuple[str, ...]
    predictions: np.ndarray | None = None

    def reference(self, task: str) -> Reference:
        """Quantile bins per feature; predictions binned by quantile (regression) or class."""
        features = {
            name: quantile_histogram(self.features[:, i]) for i, name in enumerate(self.names)
        }
        predictions = None
        if self.predictions is not None:
            binned = class_histogram if task == "classification" else quantile_histogram
            predictions = binned(self.predictions)
        return Reference(features, predictions, len(self.features))


def sample(features: Any, names: Sequence[str], predictions: Any = None) -> Sample:
    """Check the shapes of a reference sample (``ValueError`` saying what is wrong)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"features must be a non-empty [rows, features] array, not {x.shape}")
    names = tuple(str(n) for n in names)
    if len(names) != x.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"{x.shape[1]} feature columns need as many distinct names: {names}")
    for i, name in enumerate(names):
        if not np.isfinite(x[:, i]).any():
            raise ValueError(f"feature {name!r} has no finite value")
    y = None
    if predictions is not None:
        y = np.asarray(predictions, dtype=np.float64)
        if y.size != len(x):
            raise ValueError(f"predictions must be one value per row ({len(x)}), not {y.shape}")
        y = y.reshape(len(x))
    return Sample(x, names, y)


def save_sample(path: Path, features: Any, names: Sequence[str], predictions: Any = None) -> Path:
    """Write :data:`REFERENCE_FILE`: ``features`` [n, d] floats, ``names`` [d] strings and,
    when given, ``predictions`` [n]."""
    checked = sample(features, names, predictions)
    arrays: dict[str, np.ndarray] = {
        "features": checked.features,
        "names": np.asarray(checked.names, dtype=str),
    }
    if checked.predictions is not None:
        arrays["predictions"] = checked.predictions
    with Path(path).open("wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
    return Path(path)


def load_sample(path: Path) -> Sample:
    """Read :data:`REFERENCE_FILE`; a :class:`StepError` naming the file when it is unreadable
    or ill-shaped."""
    hint = "write it with ctx.save_reference(features, names) or np.savez (see docs/steps.md)"
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("it is not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as data:
            missing = {"features", "names"} - set(data.files)
            if missing:
                raise ValueError(f"it has no {' or '.join(sorted(missing))} array")
            predictions = data["predictions"] if "predictions" in data.files else None
            return sample(data["features"], list(data["names"]), predictions)
    except (OSError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise StepError(f"drift reference {path} is unusable: {exc}", hint=hint) from None
