"""What an evaluation entrypoint returns: :class:`EvalResult`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal


@dataclass
class EvalResult:
    """The evaluation data and a way to predict on it; the runtime computes every metric.

    Give ``predict`` and ``batches`` (preferred): the runtime calls ``predict(batch)`` for each
    input batch in order, timing each call for the latency percentiles and throughput, and
    concatenates the outputs. Or give precomputed ``outputs`` (then no latency is reported).

    - ``y_true``: labels (classification, ints ``0..C-1``) or targets (regression), in order.
    - ``outputs`` / what ``predict`` returns: for classification ``(n, C)`` scores, either
      ``logits`` or ``probs`` (``output_kind``); for regression ``(n,)`` predictions.
    - ``class_names``: optional names for the per-class metrics (default: ``0..C-1``).
    Arrays may be numpy arrays, torch tensors or lists.
    """

    y_true: Any
    predict: Callable[[Any], Any] | None = None
    batches: Iterable[Any] | None = None
    outputs: Any = None
    output_kind: Literal["logits", "probs"] = "logits"
    class_names: Sequence[str] | None = None
    warmup_batches: int = 1
