"""What a step did, for `lepton-ci run`'s per-job summary: ran, cache hit or unchanged.

`lepton-ci run` points ``LEPTON_OUTCOME_FILE`` at a file per job; a step that skipped its work
(a step-cache hit, a deploy of the version already live) appends one JSON line there. A job
whose steps wrote nothing ran.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "LEPTON_OUTCOME_FILE"
RAN = "ran"
CACHE_HIT = "cache hit"
UNCHANGED = "unchanged"


def report_outcome(step: str, outcome: str) -> None:
    """Record that ``step`` did ``outcome`` (no-op outside `lepton-ci run`)."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, "outcome": outcome}) + "\n")
    except OSError:
        pass


def job_outcome(path: Path, commands: int) -> str:
    """``cache hit`` / ``unchanged`` when every command of the job skipped its work, else ran."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        outcomes = [json.loads(line)["outcome"] for line in lines if line.strip()]
    except (OSError, ValueError, KeyError, TypeError):
        return RAN
    if len(outcomes) < commands or not outcomes or RAN in outcomes:
        return RAN
    return CACHE_HIT if CACHE_HIT in outcomes else UNCHANGED
