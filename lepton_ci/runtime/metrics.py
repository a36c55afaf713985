"""Standard metrics per task, per-sample results, and the paired bootstrap. numpy only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EPS = 1e-12


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


@dataclass
class Samples:
    """Per-sample evaluation results, in evaluation-set order (``evaluate/samples.npz``)."""

    arrays: dict[str, np.ndarray]

    def save(self, path: Any) -> None:
        import io

        from lepton_ci.fsutil import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.arrays)  # type: ignore[arg-type]
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, source: Any) -> Samples:
        with np.load(source, allow_pickle=False) as data:
            return cls({key: data[key] for key in data.files})

    def __len__(self) -> int:
        return len(self.arrays["loss"])


def classification(
    y_true: np.ndarray, scores: np.ndarray, kind: str, class_names: Sequence[str] | None
) -> tuple[dict[str, float], Samples]:
    y_true = y_true.astype(np.int64).reshape(-1)
    if scores.ndim != 2 or len(scores) != len(y_true):
        raise ValueError(
            f"classification outputs must have shape (n, classes) with n={len(y_true)}; "
            f"got {scores.shape}"
        )
    probs = softmax(scores.astype(np.float64)) if kind == "logits" else scores.astype(np.float64)
    n_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    loss = -np.log(np.clip(probs[np.arange(len(y_true)), y_true], EPS, None))
    names = list(class_names) if class_names else [str(i) for i in range(n_classes)]
    metrics = {"accuracy": float((y_pred == y_true).mean()), "loss": float(loss.mean())}
    metrics["macro_f1"] = macro_f1(y_true, y_pred, n_classes)
    for index, name in enumerate(names):
        tp = float(((y_pred == index) & (y_true == index)).sum())
        predicted = float((y_pred == index).sum())
        actual = float((y_true == index).sum())
        metrics[f"precision/{name}"] = tp / predicted if predicted else 0.0
        metrics[f"recall/{name}"] = tp / actual if actual else 0.0
    samples = Samples(
        {"correct": y_pred == y_true, "loss": loss, "y_true": y_true, "y_pred": y_pred}
    )
    return metrics, samples


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None) -> float:
    n_classes = n_classes or int(max(y_true.max(), y_pred.max())) + 1
    onehot_true = np.eye(n_classes, dtype=bool)[y_true]
    onehot_pred = np.eye(n_classes, dtype=bool)[y_pred]
    return float(_macro_f1_counts(onehot_true[None], onehot_pred[None])[0])


def _macro_f1_counts(true: np.ndarray, pred: np.ndarray, weights: Any = None) -> np.ndarray:
    """Macro-F1 for a batch of resamples: ``true``/``pred`` (B, n, C) bool or counts."""
    if weights is None:
        tp = (true & pred).sum(axis=1)
        fp = (~true & pred).sum(axis=1)
        fn = (true & ~pred).sum(axis=1)
    else:  # weights (B, n): how often each sample is drawn
        tp = np.einsum("bn,nc->bc", weights, (true & pred)[0])
        fp = np.einsum("bn,nc->bc", weights, (~true & pred)[0])
        fn = np.einsum("bn,nc->bc", weights, (true & ~pred)[0])
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    present = (tp + fn) > 0  # classes present in the (resampled) truth
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)  # type: ignore[no-any-return]


def regression(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[dict[str, float], Samples]:
    y_true = y_true.astype(np.float64).reshape(-1)
    y_pred = y_pred.astype(np.float64).reshape(-1)
    if len(y_pred) != len(y_true):
        raise ValueError(f"regression outputs must have {len(y_true)} values; got {len(y_pred)}")
    err = y_pred - y_true
    sq = err**2
    var = float(((y_true - y_true.mean()) ** 2).sum())
    metrics = {
        "mse": float(sq.mean()),
        "mae": float(np.abs(err).mean()),
        "r2": 1.0 - float(sq.sum()) / var if var > 0 else 0.0,
        "loss": float(sq.mean()),
    }
    samples = Samples({"loss": sq, "abs_error": np.abs(err), "y_true": y_true, "y_pred": y_pred})
    return metrics, samples


def percentile_ms(timings_s: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(timings_s) * 1000.0, q))


# paired bootstrap ------------------------------------------------------------------------------

Statistic = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]


def _mean_of(key: str) -> Statistic:
    def stat(arrays: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        values = arrays[key].astype(np.float64)
        return weights @ values / weights.sum(axis=1)  # type: ignore[no-any-return]

    return stat


def _macro_f1_stat(arrays: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    y_true = arrays["y_true"].astype(np.int64)
    y_pred = arrays["y_pred"].astype(np.int64)
    n_classes = int(max(y_true.max(), y_pred.max())) + 1
    true = np.eye(n_classes, dtype=bool)[y_true][None]
    pred = np.eye(n_classes, dtype=bool)[y_pred][None]
    return _macro_f1_counts(true, pred, weights)


PER_SAMPLE: dict[str, tuple[str, Statistic]] = {
    "accuracy": ("correct", _mean_of("correct")),
    "loss": ("loss", _mean_of("loss")),
    "mse": ("loss", _mean_of("loss")),
    "mae": ("abs_error", _mean_of("abs_error")),
    "macro_f1": ("y_pred", _macro_f1_stat),
}


def paired_bootstrap(
    metric: str,
    challenger: Samples,
    champion: Samples,
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    chunk: int = 200,
) -> tuple[float, float] | None:
    """Confidence interval of ``metric(challenger) - metric(champion)``, resampling the same
    evaluation samples for both. None when the metric is not per-sample or the sets differ."""
    if metric not in PER_SAMPLE or resamples <= 0:
        return None
    needed, stat = PER_SAMPLE[metric]
    if needed not in challenger.arrays or needed not in champion.arrays:
        return None
    n = len(challenger)
    if n == 0 or n != len(champion):
        return None
    if (
        "y_true" in challenger.arrays
        and "y_true" in champion.arrays
        and not np.array_equal(challenger.arrays["y_true"], champion.arrays["y_true"])
    ):
        return None  # not the same evaluation set: a paired comparison is meaningless
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        weights = np.zeros((size, n), dtype=np.float64)
        np.add.at(weights, (np.arange(size)[:, None], idx), 1.0)
        deltas.append(stat(challenger.arrays, weights) - stat(champion.arrays, weights))
    all_deltas = np.concatenate(deltas)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(all_deltas, [alpha, 1.0 - alpha])
    return float(low), float(high)
