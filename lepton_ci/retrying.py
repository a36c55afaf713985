"""One way to try again: bounded exponential backoff for calls, and polling until a deadline.

- :class:`Backoff` runs a call up to ``attempts`` times, waiting ``base``, 2 x base, 4 x base, …
  (at most ``cap``) between tries, and retries only what ``retry_if`` accepts (by default a
  :class:`Transient`, which carries the error to raise when the tries run out: "… (gave up after
  N attempts)"). Every server adapter takes its policy from ``LEPTON_HTTP_RETRIES``,
  ``LEPTON_HTTP_BACKOFF`` and ``LEPTON_HTTP_TIMEOUT`` (:meth:`Backoff.from_env`).
- :func:`poll` asks ``probe`` every ``interval`` seconds until it answers (anything but
  ``None`` or ``False``) or ``timeout`` seconds have passed; :func:`poll_until` raises the
  caller's own error at the deadline. A probe ends the wait early by raising.

Both run on tenacity, imported only when something is retried or waited for (``lepton-ci
--help`` and the generator never load it). ``sleep`` is injectable everywhere, so tests need not
wait; by default it is :func:`time.sleep`, looked up at each wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from lepton_ci.errors import LeptonError

if TYPE_CHECKING:
    from tenacity import RetryCallState

T = TypeVar("T")
Sleep = Callable[[float], None]


class Transient(Exception):
    """Internal: a failure worth retrying (timeout, connection error, 5xx, 429); ``final`` is
    the error a user reads when the retries run out."""

    def __init__(self, final: LeptonError) -> None:
        super().__init__(final.message)
        self.final = final


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, Transient)


def gave_up(exc: BaseException, attempts: int) -> BaseException:
    """A :class:`Transient` becomes its final error, saying how often it was tried; any other
    error stays as it was."""
    if not isinstance(exc, Transient):
        return exc
    final = exc.final
    return type(final)(f"{final.message} (gave up after {attempts} attempts)", hint=final.hint)


def _time_sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up now: a test that patches time.sleep sees these waits too


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff: ``attempts`` tries, waiting ``base``, 2 x base, … ≤ ``cap``
    seconds between them; ``timeout_seconds`` is what each try may take (the client enforces it).
    """

    attempts: int = 4
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> Backoff:
        """From ``LEPTON_HTTP_RETRIES``, ``LEPTON_HTTP_BACKOFF``, ``LEPTON_HTTP_TIMEOUT``."""
        return cls(
            attempts=max(1, int(os.environ.get("LEPTON_HTTP_RETRIES", "4"))),
            base_seconds=float(os.environ.get("LEPTON_HTTP_BACKOFF", "1.0")),
            timeout_seconds=float(os.environ.get("LEPTON_HTTP_TIMEOUT", "30")),
        )

    def call(
        self,
        func: Callable[[], T],
        *,
        retry_if: Callable[[BaseException], bool] = is_transient,
        give_up: Callable[[BaseException, int], BaseException] = gave_up,
        on_retry: Callable[[BaseException, float, int], None] | None = None,
        sleep: Sleep | None = None,
    ) -> T:
        """Run ``func``; while it fails with an error ``retry_if`` accepts and tries are left,
        wait and run it again. The last error goes through ``give_up(error, tries made)``:
        what that returns is raised (``from None`` when it is a new error). ``on_retry(error,
        delay, tries made)`` is told before each wait."""
        import tenacity

        tries = 0

        def attempt() -> T:
            nonlocal tries
            tries += 1
            return func()

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None and state.next_action:
                error = state.outcome.exception()
                assert error is not None
                on_retry(error, state.next_action.sleep, state.attempt_number)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.base_seconds, max=self.cap_seconds),
            retry=tenacity.retry_if_exception(retry_if),
            sleep=_plain(sleep),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Exception as exc:
            replacement = give_up(exc, tries)
            if replacement is exc:
                raise
            raise replacement from None


def poll(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    sleep: Sleep | None = None,
) -> T | None:
    """Ask ``probe`` every ``interval`` seconds until it answers something other than ``None``
    or ``False``, and return that; ``None`` when ``timeout`` seconds passed without an answer.
    The probe is asked at least once; what it raises ends the wait at once."""
    import tenacity

    def pending(answer: object) -> bool:
        return answer is None or answer is False

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_result(pending),
        sleep=_plain(sleep),
        retry_error_callback=lambda state: None,
        reraise=True,
    )
    answer = retrying(probe)
    return None if pending(answer) else answer


def poll_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    error: Callable[[], BaseException],
    sleep: Sleep | None = None,
) -> T:
    """:func:`poll`, raising ``error()`` (the caller's own error and message) at the deadline."""
    answer = poll(probe, timeout=timeout, interval=interval, sleep=sleep)
    if answer is None:
        raise error()
    return answer


def retry_for(
    func: Callable[[], T],
    *,
    timeout: float,
    interval: float,
    retry_if: Callable[[BaseException], bool],
    sleep: Sleep | None = None,
) -> T:
    """Run ``func``; while it fails with an error ``retry_if`` accepts, run it again every
    ``interval`` seconds for up to ``timeout`` seconds, then raise that error as it is."""
    import tenacity

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_exception(retry_if),
        sleep=_plain(sleep),
        reraise=True,
    )
    return retrying(func)


def _plain(sleep: Sleep | None) -> Sleep:
    """tenacity hands its sleep a float subclass; ours get plain seconds."""
    chosen = sleep or _time_sleep
    return lambda seconds: chosen(float(seconds))
