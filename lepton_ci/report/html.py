"""The HTML report: training curves, task plots, gates, lineage (docs/report.md).

Pure apart from reading the run directory: :func:`build_report` returns the HTML text;
:func:`write_report` writes it atomically. Plots are matplotlib (Agg) PNGs embedded as base64
``data:`` URIs, and a CSP meta tag forbids every external load, so the file needs no network.
matplotlib is imported here only, never by the generator or ``--help``.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import jinja2

from lepton_ci.errors import LeptonError
from lepton_ci.fsutil import atomic_write_bytes

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<title>lepton-ci report: {{ model }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px}.failed{color:#b00}.passed{color:#070}</style>
</head><body>
<h1>{{ model }}</h1>
{% if lineage %}<h2>Lineage</h2><table>
{% for k, v in lineage %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% if gates %}<h2>Quality gates</h2><table>
<tr><th>gate</th><th>value</th><th>bound</th><th>champion</th>
<th>95% CI of difference</th><th>result</th></tr>
{% for g in gates %}<tr><td>{{ g.name }}</td><td>{{ g.value }}</td><td>{{ g.op }} {{ g.bound }}</td>
<td>{{ g.champion }}</td><td>{{ g.ci }}</td><td class="{{ g.css }}">{{ g.result }}</td></tr>
{% endfor %}</table>{% endif %}
{% for title, png in plots %}<h2>{{ title }}</h2>
<img alt="{{ title }}" src="data:image/png;base64,{{ png }}">{% endfor %}
</body></html>
"""


def _fmt(value: Any) -> str:
    return "-" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LeptonError(f"{path}: not JSON ({exc})") from None
    return data


def _curves(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Per-metric (step, value) series from ``train/train_metrics.jsonl`` (ctx.log_metric)."""
    path = run_dir / "train" / "train_metrics.jsonl"
    series: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return series
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            name, value = str(row["name"]), float(row["value"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise LeptonError(f"{path}:{number}: expected {{name, step, value}}") from None
        points = series.setdefault(name, [])
        points.append((int(row.get("step") if row.get("step") is not None else len(points)), value))
    return series


def build_report(run_dir: Path) -> str:
    """The report's HTML for ``run_dir`` (``.lepton/run``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    run_dir = Path(run_dir)
    metrics = _read_json(run_dir / "evaluate" / "metrics.json")
    manifest = _read_json(run_dir / "train" / "manifest.json")
    if metrics is None and manifest is None:
        raise LeptonError(
            f"{run_dir} has neither train/manifest.json nor evaluate/metrics.json",
            hint="run `lepton-ci train` and `lepton-ci evaluate` first",
        )
    plots: list[tuple[str, str]] = []
    curves = _curves(run_dir)
    if curves:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, points in curves.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set_xlabel("step")
        ax.legend()
        fig.tight_layout()
        plots.append(("Training curves", _png(fig)))
        plt.close(fig)
    samples_path = run_dir / "evaluate" / "samples.npz"
    if samples_path.is_file():
        with np.load(samples_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        if "correct" in arrays:  # classification
            y_true, y_pred = arrays["y_true"].astype(int), arrays["y_pred"].astype(int)
            n = int(max(y_true.max(), y_pred.max())) + 1
            matrix = np.zeros((n, n), dtype=int)
            np.add.at(matrix, (y_true, y_pred), 1)
            fig, ax = plt.subplots(figsize=(5, 4.5))
            image = ax.imshow(matrix, cmap="Blues")
            fig.colorbar(image, ax=ax)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            fig.tight_layout()
            plots.append(("Confusion matrix", _png(fig)))
            plt.close(fig)
        elif "y_pred" in arrays:  # regression
            y_true, y_pred = arrays["y_true"], arrays["y_pred"]
            fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
            left.scatter(y_true, y_pred, s=8)
            left.set_xlabel("true")
            left.set_ylabel("predicted")
            right.scatter(y_pred, y_pred - y_true, s=8)
            right.axhline(0, color="k", linewidth=1)
            right.set_xlabel("predicted")
            right.set_ylabel("residual")
            fig.tight_layout()
            plots.append(("Predicted vs true, residuals", _png(fig)))
            plt.close(fig)
    gates = []
    for gate in (metrics or {}).get("gates") or []:
        skipped, passed = gate.get("skipped"), bool(gate.get("passed"))
        ci = (
            f"[{_fmt(gate['ci_low'])}, {_fmt(gate['ci_high'])}]"
            if gate.get("ci_low") is not None
            else "-"
        )
        gates.append(
            {
                "name": gate.get("name"),
                "value": _fmt(gate.get("value")),
                "op": gate.get("op", ""),
                "bound": _fmt(gate.get("bound")),
                "champion": _fmt(gate.get("champion_value")),
                "ci": ci,
                "result": f"skipped: {skipped}" if skipped else ("passed" if passed else "FAILED"),
                "css": "" if skipped else ("passed" if passed else "failed"),
            }
        )
    lineage: list[tuple[str, str]] = []
    if manifest:
        git = manifest.get("git") or {}
        lineage = [
            ("git sha", _fmt(git.get("sha") if isinstance(git, dict) else git)),
            ("data hash", _fmt(manifest.get("data_hash"))),
            ("params", json.dumps(manifest.get("params"), sort_keys=True)),
            ("CI", _fmt(manifest.get("ci_url"))),
        ]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    model = (metrics or {}).get("model") or (manifest or {}).get("model") or "model"
    return env.from_string(_TEMPLATE).render(
        csp=CSP, model=model, lineage=lineage, gates=gates, plots=plots
    )


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    """Write the report (default ``<run_dir>/report/index.html``) and return its path."""
    path = Path(output) if output else Path(run_dir) / "report" / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, build_report(run_dir).encode("utf-8"))
    return path
