"""``lepton-ci models history --plot``: a model's metric over its registered versions, as a PNG.

Reads the registry only (each version's evaluation metrics, and the ``champion`` alias moves in
its history); the plot marks every version that has been champion and labels the current one.
"""

from __future__ import annotations

from pathlib import Path

from lepton_ci.errors import LeptonError
from lepton_ci.fsutil import atomic_write_bytes
from lepton_ci.registry.base import CHAMPION, Registry
from lepton_ci.report.plots import metric_history
from lepton_ci.report.summary import metric_name


def write_history_plot(registry: Registry, name: str, metric: str, output: Path) -> Path:
    """Plot ``metric`` of every version of ``name`` that has it into ``output`` (PNG)."""
    versions = sorted(registry.list(name), key=lambda v: v.version)
    if not versions:
        raise LeptonError(
            f"{name} has no registered versions in {registry.location}",
            hint="register one with `lepton-ci models register`",
        )
    values = [
        (v.version, float(v.metrics[metric]))
        for v in versions
        if isinstance(v.metrics.get(metric), (int, float))
        and not isinstance(v.metrics[metric], bool)
    ]
    if not values:
        known = sorted(
            {k for v in versions for k, x in v.metrics.items() if isinstance(x, (int, float))}
        )
        raise LeptonError(
            f"no version of {name} has a metric {metric!r}",
            hint=f"choose one with --metric: {', '.join(known) or 'none recorded'}",
        )
    champions = [
        e.version
        for e in registry.history(name)
        if e.kind == "alias" and e.details.get("alias") == CHAMPION and e.version is not None
    ]
    current = registry.champion(name)
    plot = metric_history(metric, values, champions, current.version if current else None)
    atomic_write_bytes(Path(output), plot.png)
    return Path(output)


def default_output(metric: str) -> Path:
    """``.lepton/run/report/history_<metric>.png``: beside the report, not among its plots."""
    from lepton_ci.run_dir import RunDir

    return RunDir().report_dir / f"history_{metric_name(metric)}.png"
