"""``lepton-ci report``: the run's evaluation report (docs/report.md): a self-contained HTML page,
its plots as PNG files, a one-line summary and GitLab's metrics report."""

from lepton_ci.report.html import build_report
from lepton_ci.report.write import write_report

__all__ = ["build_report", "write_report"]
