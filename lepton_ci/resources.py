"""Locate the data that ships with lepton-ci: templates, the Jenkins library, GitLab templates.

In a wheel they live in ``lepton_ci/_data/``; in a source checkout (editable install, tests)
they are the top-level ``templates/``, ``jenkins/`` and ``gitlab/`` folders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """``templates``, ``jenkins`` or ``gitlab``."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"lepton-ci's {name}/ folder is missing from this installation")


def template_dir() -> Path:
    return data_dir("templates")
