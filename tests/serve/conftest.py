"""Fixtures of the serve tests: a tiny verified model and servers stopped with their group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest

from tests.services import tiny_model  # noqa: F401


@pytest.fixture
def stop():
    """Register a started server (its own process group); stopped whole at teardown."""
    procs: list[subprocess.Popen[str]] = []
    yield procs.append
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # uvicorn's supervisor stops its workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left of the group
        proc.wait()
