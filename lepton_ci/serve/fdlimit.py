"""File descriptors: the soft limit raised to the hard one, and one line a while at the limit.

At the limit asyncio logs a traceback for every accept it retries: CPython 3.11's
``selector_events._accept_connection`` tries up to the listen backlog (uvicorn's is 2048) and
calls the loop's exception handler each time with "socket.accept() out of system resource".
300 idle connections against ``serve`` at ``ulimit -n 256`` wrote 13 MB of log in 20 s.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

from lepton_ci.console import info

ACCEPT_EXHAUSTED = "socket.accept() out of system resource"
WANTED = 65536  # where the hard limit is unlimited


def raise_soft_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to its hard one (as Go and nginx do); (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = WANTED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class QuietAcceptErrors:
    """A loop exception handler: fd exhaustion said once per ``interval`` with a count, any
    other error handled as asyncio would."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self.count = 0
        self.said_at: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_EXHAUSTED:
            loop.default_exception_handler(context)
            return
        self.count += 1
        now = self.clock()
        if self.said_at is None or now - self.said_at >= self.interval:
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            info(
                f"out of file descriptors (limit {limit}): {self.count} accept(s) failed, "
                "new connections wait in the listen queue; raise `ulimit -n` or add replicas",
                step="serve",
            )
            self.count, self.said_at = 0, now
