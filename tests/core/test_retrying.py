"""lepton_ci.retrying: the one backoff policy (server adapters, metric sinks, the Docker adapter)
and the one way to wait for something until a deadline (deploys, Jenkins queues, pipelines)."""

from __future__ import annotations

import itertools
import time

import pytest

from lepton_ci.adapters.base import AuthError
from lepton_ci.errors import ServerError, StepError
from lepton_ci.retrying import Backoff, Transient, poll, poll_until, retry_for


def failing(error: BaseException, calls: list[int], *, then: object = None, times: int = 10**6):
    """A call that raises ``error`` ``times`` times, then returns ``then``."""

    def call() -> object:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return then

    return call


def test_only_transient_failures_are_retried() -> None:
    calls: list[int] = []
    with pytest.raises(ValueError, match="not worth a retry"):
        Backoff().call(failing(ValueError("not worth a retry"), calls), sleep=lambda s: None)
    assert len(calls) == 1

    calls.clear()
    transient = Transient(ServerError("HTTP 503"))
    assert Backoff().call(failing(transient, calls, then="ok", times=2), sleep=lambda s: None)
    assert len(calls) == 3


def test_the_waits_double_from_the_base_and_stop_at_the_cap() -> None:
    sleeps: list[float] = []
    policy = Backoff(attempts=8, base_seconds=1.0, cap_seconds=30.0)
    with pytest.raises(ServerError):
        policy.call(failing(Transient(ServerError("down")), []), sleep=sleeps.append)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert all(type(s) is float for s in sleeps)


def test_when_the_tries_run_out_the_final_error_says_it_gave_up_after_n_attempts() -> None:
    calls: list[int] = []
    final = AuthError("Jenkins failed reading the job (HTTP 502)", hint="check the controller")
    with pytest.raises(AuthError) as caught:
        Backoff(attempts=3, base_seconds=0.0).call(failing(Transient(final), calls))
    assert len(calls) == 3
    assert caught.value.message == (
        "Jenkins failed reading the job (HTTP 502) (gave up after 3 attempts)"
    )
    assert caught.value.hint == "check the controller"
    assert caught.value.__suppress_context__  # no "during handling …" chain for the user


def test_the_caller_may_word_the_final_error_and_hear_of_each_retry() -> None:
    told: list[tuple[str, float, int]] = []

    def give_up(exc: BaseException, tries: int) -> BaseException:
        return StepError(f"{exc} (after {tries} attempts)")

    with pytest.raises(StepError, match=r"^flaky \(after 3 attempts\)$"):
        Backoff(attempts=3, base_seconds=0.5).call(
            failing(OSError("flaky"), []),
            retry_if=lambda exc: isinstance(exc, OSError),
            give_up=give_up,
            on_retry=lambda exc, delay, tries: told.append((str(exc), delay, tries)),
            sleep=lambda s: None,
        )
    assert told == [("flaky", 0.5, 1), ("flaky", 1.0, 2)]


def test_the_policy_comes_from_the_lepton_http_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Backoff.from_env() == Backoff(
        attempts=4, base_seconds=1.0, cap_seconds=30.0, timeout_seconds=30.0
    )
    monkeypatch.setenv("LEPTON_HTTP_RETRIES", "0")
    monkeypatch.setenv("LEPTON_HTTP_BACKOFF", "0.25")
    monkeypatch.setenv("LEPTON_HTTP_TIMEOUT", "7")
    assert Backoff.from_env() == Backoff(attempts=1, base_seconds=0.25, timeout_seconds=7.0)


def test_the_per_call_timeout_is_the_one_each_server_client_is_given() -> None:
    pytest.importorskip("jenkins")
    pytest.importorskip("gitlab")
    from lepton_ci.adapters.gitlab import GitLabServer
    from lepton_ci.adapters.jenkins import JenkinsServer

    policy = Backoff(timeout_seconds=4.5)
    jenkins = JenkinsServer("http://127.0.0.1:9/", None, None, retry=policy)
    gitlab = GitLabServer("http://127.0.0.1:9", private_token="t" * 20, retry=policy)
    assert jenkins.client.timeout == 4.5
    assert gitlab.client.timeout == 4.5


def test_waits_use_time_sleep_as_it_is_when_they_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test (or tool) that replaces time.sleep sees every wait of the policy."""
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    calls: list[int] = []
    Backoff(base_seconds=2.0).call(failing(Transient(ServerError("x")), calls, then=1, times=2))
    assert sleeps == [2.0, 4.0]


def test_poll_returns_the_first_answer_that_is_not_none_or_false() -> None:
    answers = iter([None, False, 0, 5])
    assert poll(lambda: next(answers), timeout=60, interval=0, sleep=lambda s: None) == 0


def test_poll_answers_none_when_the_deadline_passes() -> None:
    asked = itertools.count()
    started = time.monotonic()
    assert poll(lambda: next(asked) < 0, timeout=0.2, interval=0.02) is None
    assert 0.2 <= time.monotonic() - started < 5
    assert next(asked) > 2  # asked again and again until then


def test_poll_until_raises_the_callers_own_error_at_the_deadline() -> None:
    asked: list[int] = []

    def never() -> bool:
        asked.append(1)
        return False

    with pytest.raises(ServerError, match=r"^build job #3 has no result after 0s$"):
        poll_until(
            never,
            timeout=0,
            interval=1,
            error=lambda: ServerError("build job #3 has no result after 0s"),
        )
    assert asked == [1]  # asked at least once, even with no time at all


def test_a_probe_that_raises_ends_the_wait_at_once() -> None:
    asked: list[int] = []

    def died() -> bool:
        asked.append(1)
        raise StepError("the new version exited before it was ready")

    with pytest.raises(StepError, match="exited before it was ready"):
        poll_until(died, timeout=60, interval=0, error=lambda: AssertionError("not this one"))
    assert asked == [1]


def test_retry_for_retries_what_it_is_told_until_the_deadline_then_raises_it() -> None:
    calls: list[int] = []
    locked = failing(RuntimeError("database is locked"), calls)
    with pytest.raises(RuntimeError, match="database is locked"):
        retry_for(locked, timeout=0.1, interval=0.01, retry_if=lambda e: "locked" in str(e))
    assert len(calls) > 2

    calls.clear()
    broken = failing(RuntimeError("disk I/O error"), calls)
    with pytest.raises(RuntimeError, match="disk I/O error"):
        retry_for(broken, timeout=60, interval=0, retry_if=lambda e: "locked" in str(e))
    assert len(calls) == 1
