"""Served inputs and predictions counted into the training reference's bins (a collector).

With a ``drift`` section in the manifest (:class:`lepton_ci.drift.Reference`) every /predict
row adds one to its bin of each feature and the prediction one to its bin:

  lepton_feature_bin_total{feature,bin}             counter
  lepton_feature_reference_ratio{feature,bin}       gauge    (the reference share of the bin)
  lepton_prediction_bin_total{bin}                  counter
  lepton_prediction_reference_ratio{bin}            gauge
  lepton_drift_errors_total                         counter  (rows that could not be binned)

Every bin has its series from the start (an empty bin counts in the PSI too). Without a
reference there are no drift series at all; a reload replaces them with the new reference's.
Counting never fails a request: what cannot be read is counted in the errors counter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from lepton_ci import metric_names as m
from lepton_ci.drift import Histogram, Reference

log = logging.getLogger("lepton_ci.serve")


class DriftStats:
    """A prometheus_client collector of the drift counters of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reference: Reference | None = None
        self._features: list[np.ndarray] = []
        self._predictions: np.ndarray | None = None
        self._errors = 0
        self._warned = False

    def load(self, reference: Reference | None) -> None:
        """Start counting against ``reference`` (None: stop); the old counts are dropped."""
        with self._lock:
            self.reference = reference
            features = reference.features.values() if reference else ()
            self._features = [np.zeros(len(h.ratios), dtype=np.int64) for h in features]
            predictions = reference.predictions if reference else None
            self._predictions = np.zeros(len(predictions.ratios), np.int64) if predictions else None
            self._errors = 0
            self._warned = False

    def observe(self, inputs: list[Any], predictions: Any) -> None:
        """Count one request's rows and predictions; never raises."""
        reference = self.reference
        if reference is None:
            return
        try:
            rows = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
            if rows.shape[1] != len(reference.features):
                raise ValueError(
                    f"{rows.shape[1]} values per row, the reference has "
                    f"{len(reference.features)} features"
                )
            counts = [h.counts(rows[:, i]) for i, h in enumerate(reference.features.values())]
            predicted = None
            if reference.predictions is not None:
                predicted = _prediction_counts(reference.predictions, predictions, len(rows))
        except (ValueError, TypeError, OverflowError) as exc:
            self._error(exc)
            return
        with self._lock:
            if reference is not self.reference:  # reloaded meanwhile
                return
            for total, add in zip(self._features, counts, strict=True):
                total += add
            if predicted is not None and self._predictions is not None:
                self._predictions += predicted

    def _error(self, exc: Exception) -> None:
        with self._lock:
            self._errors += 1
            warn, self._warned = not self._warned, True
        if warn:
            log.warning("drift statistics skip a request they cannot read: %s", exc)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            reference = self.reference
            features = [c.copy() for c in self._features]
            predictions = None if self._predictions is None else self._predictions.copy()
            errors = self._errors
        if reference is None:
            return
        bins = CounterMetricFamily(
            m.FEATURE_BIN_TOTAL,
            "Served input rows by feature and reference bin (upper edge).",
            labels=["feature", "bin"],
        )
        ratios = GaugeMetricFamily(
            m.FEATURE_REFERENCE_RATIO,
            "Share of the training reference in each bin.",
            labels=["feature", "bin"],
        )
        for (name, histogram), counts in zip(reference.features.items(), features, strict=True):
            for label, count, ratio in zip(histogram.labels, counts, histogram.ratios, strict=True):
                bins.add_metric([name, label], float(count))
                ratios.add_metric([name, label], ratio)
        yield bins
        yield ratios
        if reference.predictions is not None and predictions is not None:
            yield from _prediction_families(reference.predictions, predictions)
        yield CounterMetricFamily(
            m.DRIFT_ERRORS_TOTAL,
            "Requests whose inputs or predictions could not be binned.",
            value=float(errors),
        )

    def describe(self) -> list[Any]:
        return []  # the series depend on the loaded reference: collected, never described


def _prediction_counts(histogram: Histogram, predictions: Any, rows: int) -> np.ndarray:
    values = np.asarray(predictions, dtype=np.float64).reshape(rows, -1)
    if values.shape[1] != 1:
        raise ValueError(f"{values.shape[1]} predictions per row, the reference has one")
    return histogram.counts(values[:, 0])


def _prediction_families(histogram: Histogram, counts: np.ndarray) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    bins = CounterMetricFamily(
        m.PREDICTION_BIN_TOTAL, "Predictions by reference bin.", labels=["bin"]
    )
    ratios = GaugeMetricFamily(
        m.PREDICTION_REFERENCE_RATIO,
        "Share of the reference predictions in each bin.",
        labels=["bin"],
    )
    for label, count, ratio in zip(histogram.labels, counts, histogram.ratios, strict=True):
        bins.add_metric([label], float(count))
        ratios.add_metric([label], ratio)
    yield bins
    yield ratios
