"""How metric sinks retry: every failure but a :class:`Permanent` one, 0.5 s, 1 s, 2 s … ≤ 8 s."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lepton_ci.retrying import Backoff, Sleep

T = TypeVar("T")


class Permanent(Exception):
    """A failure retrying cannot fix (e.g. HTTP 401/400)."""


def with_retries(
    action: Callable[[], T],
    *,
    retries: int,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Sleep | None = None,
) -> T:
    """Run ``action``; on failure wait 0.5 s, 1 s, 2 s … (capped) and try again, ``retries``
    times at most; the last failure is raised as it is. :class:`Permanent` failures are raised
    at once."""
    policy = Backoff(attempts=retries + 1, base_seconds=base_delay, cap_seconds=max_delay)
    return policy.call(
        action,
        retry_if=lambda exc: isinstance(exc, Exception) and not isinstance(exc, Permanent),
        give_up=lambda exc, attempts: exc,
        sleep=sleep,
    )
