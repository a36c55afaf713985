"""The report's plots: matplotlib (Agg) figures rendered to PNG bytes.

Each function takes plain data and returns a :class:`Plot`; matplotlib is imported on first use,
so importing this module costs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lepton_ci.errors import MissingDependency
from lepton_ci.report.run import RunRecord
from lepton_ci.runtime.metric_log import MetricPoint


@dataclass(frozen=True)
class Plot:
    """One embedded figure: ``slug`` names its file in ``report/plots/``."""

    title: str
    slug: str
    png: bytes


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency("matplotlib", "report") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _render(fig: Any, title: str, slug: str) -> Plot:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    _pyplot().close(fig)
    return Plot(title, slug, buffer.getvalue())


def training_curves(points: Sequence[MetricPoint]) -> Plot:
    """One panel per metric over steps (a point without a step takes its index), so a loss
    and an accuracy do not share one scale."""
    series: dict[str, list[tuple[int, float]]] = {}
    for point in points:
        line = series.setdefault(point.name, [])
        line.append((len(line) if point.step is None else point.step, point.value))
    cols = min(len(series), 3)
    rows = -(-len(series) // cols)
    fig, axes = _pyplot().subplots(
        rows, cols, figsize=(3.2 * cols + 0.6, 2.8 * rows), squeeze=False
    )
    for ax, (name, line) in zip(axes.flat, series.items(), strict=False):
        ax.plot([p[0] for p in line], [p[1] for p in line], marker="o", markersize=3)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(series) :]:
        ax.set_visible(False)
    return _render(fig, "Training curves", "training_curves")


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] = ()
) -> Plot:
    """Counts of (true, predicted) pairs; each cell is labelled when there are few classes."""
    n = max(int(max(y_true.max(), y_pred.max())) + 1, len(class_names))
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    fig, ax = _pyplot().subplots(figsize=(5, 4.5))
    fig.colorbar(ax.imshow(matrix, cmap="Blues"), ax=ax)
    if n <= 20:
        threshold = matrix.max() / 2
        for (row, col), count in np.ndenumerate(matrix):
            color = "white" if count > threshold else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    if len(class_names) == n and n <= 30:
        ax.set_xticks(range(n), class_names, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _render(fig, "Confusion matrix", "confusion_matrix")


def class_names(metrics: Mapping[str, Any]) -> list[str]:
    """The classes ``evaluate`` named in its ``precision/<class>`` and ``recall/<class>``."""
    names = [k.split("/", 1)[1] for k in metrics if k.startswith("precision/")]
    return [c for c in names if f"recall/{c}" in metrics]


def per_class(metrics: Mapping[str, Any]) -> Plot | None:
    """Precision and recall per class from ``precision/<class>`` and ``recall/<class>``
    (what ``lepton_ci.runtime.metrics.classification`` computes)."""
    classes = class_names(metrics)
    if not classes:
        return None
    x = np.arange(len(classes))
    fig, ax = _pyplot().subplots(figsize=(max(5.0, 0.5 * len(classes) + 2), 3.5))
    for offset, kind in ((-0.2, "precision"), (0.2, "recall")):
        ax.bar(x + offset, [float(metrics[f"{kind}/{c}"]) for c in classes], 0.4, label=kind)
    ax.set_xticks(x, classes, rotation=90 if len(classes) > 10 else 0)
    ax.set_xlabel("class")
    ax.set_ylim(0, 1.2)  # room above the bars for the legend
    ax.legend(loc="upper center", ncol=2, fontsize=8)
    return _render(fig, "Precision and recall per class", "per_class")


def regression(y_true: np.ndarray, y_pred: np.ndarray) -> Plot:
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(8, 3.5))
    left.scatter(y_true, y_pred, s=8)
    left.set_xlabel("true")
    left.set_ylabel("predicted")
    right.scatter(y_pred, y_pred - y_true, s=8)
    right.axhline(0, color="k", linewidth=1)
    right.set_xlabel("predicted")
    right.set_ylabel("residual")
    return _render(fig, "Predicted vs true, residuals", "regression")


def champion(gates: Sequence[Mapping[str, Any]]) -> Plot | None:
    """Challenger vs champion for each relative gate that has a bootstrap interval: the
    challenger's error bar is the champion plus the 95% CI of the difference."""
    rows = [
        g
        for g in gates
        if all(g.get(k) is not None for k in ("value", "champion_value", "ci_low", "ci_high"))
    ]
    if not rows:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(3 * len(rows) + 1, 3.5), squeeze=False)
    for ax, gate in zip(axes[0], rows, strict=True):
        value, base = float(gate["value"]), float(gate["champion_value"])
        low, high = base + float(gate["ci_low"]), base + float(gate["ci_high"])
        errors = [[max(value - low, 0.0)], [max(high - value, 0.0)]]
        ax.plot([0], [base], "s", color="tab:gray", markersize=9, label="champion")
        ax.errorbar([1], [value], yerr=errors, fmt="o", capsize=6, label="challenger")
        if gate.get("bound") is not None:
            ax.axhline(float(gate["bound"]), color="tab:red", linestyle="--", label="bound")
        ax.set_xticks([0, 1], ["champion", "challenger"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(str(gate.get("name") or gate.get("metric")), fontsize=9)
    axes[0][0].legend(fontsize=8)
    return _render(fig, "Challenger vs champion (95% CI of the difference)", "champion")


def plots_for(run: RunRecord) -> list[Plot]:
    """Every plot the run's inputs allow, in the report's order."""
    plots = []
    if run.points:
        plots.append(training_curves(run.points))
    samples, metrics = run.samples or {}, run.metrics
    if run.task == "classification":
        names = class_names(metrics)
        y_true, y_pred = samples["y_true"].astype(int), samples["y_pred"].astype(int)
        plots.append(confusion_matrix(y_true, y_pred, names))
    elif run.task == "regression":
        plots.append(regression(samples["y_true"], samples["y_pred"]))
    optional = (per_class(metrics), champion(run.gates))
    plots.extend(plot for plot in optional if plot is not None)
    return plots


def metric_history(
    metric: str, values: Sequence[tuple[int, float]], champions: Sequence[int], current: int | None
) -> Plot:
    """``metric`` of each registered version (``values``: (version, value)), the versions that
    have held the champion alias marked, the current champion labelled."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.5))
    xs, ys = [v for v, _ in values], [y for _, y in values]
    ax.plot(xs, ys, marker="o", color="tab:blue", label="registered versions")
    held = [(v, y) for v, y in values if v in set(champions)]
    if held:
        ax.plot(
            [v for v, _ in held],
            [y for _, y in held],
            "*",
            color="tab:orange",
            markersize=14,
            label="champion (at some time)",
        )
    for version, value in values:
        if version == current:
            ax.annotate(
                f"champion v{version}",
                (version, value),
                textcoords="offset points",
                xytext=(0, 10),
                ha="center",
                fontsize=8,
            )
    ax.margins(x=0.08, y=0.2)
    ax.set_xticks(xs, [str(v) for v in xs])
    ax.set_xlabel("version")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    return _render(fig, f"{metric} over versions", "history")
