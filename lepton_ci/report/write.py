"""``write_report``: every file of the report directory, each written atomically.

``<report dir>`` (:data:`lepton_ci.layout.LAYOUT` ``.report_dir``, or the folder of ``-o FILE``)::

    index.html     the self-contained page (plots embedded)   GitLab expose_as, opened offline
    page.html      the same page, loading plots/ + report.css Jenkins publishHTML (its CSP
    report.css     its stylesheet                             forbids inline images and styles)
    plots/*.png    each plot as a file                        page.html, the merge-request note
    summary.txt    one plain-text line                        Jenkins currentBuild.description
    metrics.txt    OpenMetrics text                           GitLab artifacts:reports:metrics

Plots left in ``plots/`` by an earlier run are removed, so a note never shows a stale one.
"""

from __future__ import annotations

from pathlib import Path

from lepton_ci.fsutil import atomic_write_bytes, atomic_write_text
from lepton_ci.layout import LAYOUT, PLOTS_DIR
from lepton_ci.report.html import STYLE, STYLESHEET, render_html
from lepton_ci.report.plots import plots_for
from lepton_ci.report.run import read_run
from lepton_ci.report.summary import metrics_text, summary_line
from lepton_ci.run_dir import RunDir


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    """Write the report for ``run_dir`` and return the path of its ``index.html`` (or of
    ``output``; the other files go beside it)."""
    run_dir = Path(run_dir)
    path = Path(output) if output else RunDir.at(run_dir).report_html
    folder = path.parent
    run = read_run(run_dir)
    plots = plots_for(run)
    plots_dir = folder / PLOTS_DIR
    for plot in plots:
        atomic_write_bytes(plots_dir / f"{plot.slug}.png", plot.png)
    keep = {f"{plot.slug}.png" for plot in plots}
    for stale in plots_dir.glob("*.png") if plots_dir.is_dir() else ():
        if stale.name not in keep:
            stale.unlink(missing_ok=True)
    reports = LAYOUT.report_dir
    atomic_write_text(folder / LAYOUT.report_summary.relative_to(reports), summary_line(run) + "\n")
    atomic_write_text(folder / LAYOUT.report_metrics.relative_to(reports), metrics_text(run))
    atomic_write_text(folder / STYLESHEET, STYLE)
    linked = folder / LAYOUT.report_page.relative_to(reports)
    if linked != path:
        atomic_write_text(linked, render_html(run, plots, linked=True))
    atomic_write_text(path, render_html(run, plots))  # last: the page appears complete
    return path
