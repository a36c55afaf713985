"""Bounded retries with exponential backoff for metric sinks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Permanent(Exception):
    """A failure retrying cannot fix (e.g. HTTP 401/400)."""


def with_retries(
    action: Callable[[], T],
    *,
    retries: int,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``action``; on failure wait 0.5 s, 1 s, 2 s … (capped) and try again, ``retries``
    times at most. :class:`Permanent` failures are raised at once."""
    attempt = 0
    while True:
        try:
            return action()
        except Permanent:
            raise
        except Exception:
            if attempt >= retries:
                raise
            sleep(min(max_delay, base_delay * 2**attempt))
            attempt += 1
