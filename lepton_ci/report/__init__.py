"""``lepton-ci report``: one self-contained HTML evaluation report for a run directory."""

from lepton_ci.report.html import build_report, write_report

__all__ = ["build_report", "write_report"]
