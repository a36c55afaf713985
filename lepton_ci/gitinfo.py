"""What git (or the CI, for detached checkouts) says about the source: commit, branch, remote.

CI variables win over git: Jenkins and GitLab check out a detached HEAD, and their variables
name the branch the build is for.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

BRANCH_VARIABLES = ("CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME", "BRANCH_NAME", "GIT_BRANCH")


def _run(root: Path | str, *args: str) -> str | None:
    """stdout of ``git ARGS`` (possibly empty), or None when git fails or is absent."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git(root: Path | str, *args: str) -> str | None:
    """Non-empty stdout of ``git ARGS`` in ``root``, else None."""
    return _run(root, *args) or None


def current_branch(root: Path | str) -> str | None:
    """The branch being built: CI variables first, then the checked-out branch."""
    for var in BRANCH_VARIABLES:
        value = os.environ.get(var, "").removeprefix("origin/")
        if value:
            return value
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return None if branch == "HEAD" else branch


def commit(root: Path | str) -> str | None:
    return (
        os.environ.get("CI_COMMIT_SHA")
        or os.environ.get("GIT_COMMIT")
        or git(root, "rev-parse", "HEAD")
    )


def git_info(root: Path | str) -> dict[str, Any]:
    """Commit, branch and dirty flag of the working tree (for the model manifest)."""
    head = git(root, "rev-parse", "HEAD")
    if head is None:
        return {"commit": None, "branch": None, "dirty": None}
    status = _run(root, "status", "--porcelain", "--untracked-files=no")
    dirty = bool(status) if status is not None else None
    return {"commit": head, "branch": current_branch(root), "dirty": dirty}


def strip_userinfo(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``: remotes may carry credentials."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.I)


def origin_url(root: Path | str = ".") -> str | None:
    """The ``origin`` remote without credentials, or None outside a git checkout."""
    url = git(root, "config", "--get", "remote.origin.url")
    return strip_userinfo(url) if url else None
