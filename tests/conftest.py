"""Suite-wide: tests run as on a developer's machine unless a test sets CI variables itself.

The registry refuses a workspace-local SQLite file in CI (``CI``, ``GITLAB_CI``,
``JENKINS_URL``); a suite run inside a CI job must not inherit that from its own job.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CI", "GITLAB_CI", "JENKINS_URL"):
        monkeypatch.delenv(var, raising=False)
