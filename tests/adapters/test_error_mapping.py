"""What a Jenkins or GitLab HTTP status becomes, at the level of the HTTP client (`responses`
stubs the `requests` that python-jenkins and python-gitlab send): a typed error naming what
failed, the server's own words, a hint where one helps; 429 and 5xx retried, the rest at once.
GitLab's 429 is python-gitlab's to wait out (it honours Retry-After, 10 times); ours on top
made one rate-limited call 44 requests.

python-jenkins hides the status of most errors: `get_job_info` turns any HTTP error into "job
does not exist". A controller answering 503 while it restarts (or a proxy's 429) was reported
as a missing job and never retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from lepton_ci.adapters.base import AuthError, NotFound
from lepton_ci.adapters.gitlab import GitLabServer
from lepton_ci.adapters.jenkins import JenkinsServer
from lepton_ci.errors import ServerError
from lepton_ci.retrying import Backoff

JENKINS, GITLAB = "http://jenkins.test", "http://gitlab.test"
THREE_TRIES = Backoff(attempts=3, base_seconds=0)

CASES = [
    # status, error type, words in the message, tries
    (401, AuthError, "HTTP 401", 1),
    (403, AuthError, "HTTP 403", 1),
    (404, NotFound, "HTTP 404", 1),
    (418, ServerError, "refused", 1),
    (429, ServerError, "HTTP 429", 3),
    (500, ServerError, "HTTP 500", 3),
    (503, ServerError, "HTTP 503", 3),
]


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def answer(http: responses.RequestsMock, host: str, status: int) -> None:
    """Every GET to ``host`` answers ``status`` with the server's words in its body."""
    if host == JENKINS:
        http.add(responses.GET, re.compile(f"{host}/crumbIssuer/.*"), status=404)
        body: dict[str, Any] = {"body": "<html><body><h2>the server's words</h2></body></html>"}
    else:
        body = {"json": {"message": "the server's words"}}
    http.add(responses.GET, re.compile(f"{host}/.*"), status=status, **body)


def tries(http: responses.RequestsMock) -> int:
    return sum("crumbIssuer" not in call.request.url for call in http.calls)


def jenkins_call() -> Callable[[], Any]:
    server = JenkinsServer(f"{JENKINS}/", "alice", "t0ken", retry=THREE_TRIES)
    return lambda: server.job_info("ml/model")


def gitlab_call() -> Callable[[], Any]:
    server = GitLabServer(GITLAB, private_token="glpat-t0ken", retry=THREE_TRIES)
    return lambda: server.pipeline("group/model", 7)


@pytest.mark.parametrize(
    ("host", "call", "status", "error", "words", "expected_tries"),
    [
        (host, call, *case)
        for host, call in [(JENKINS, jenkins_call), (GITLAB, gitlab_call)]
        for case in CASES
        if (host, case[0]) != (GITLAB, 429)  # python-gitlab's own waits: the last test
    ],
)
def test_each_status_becomes_its_error_with_the_servers_words(
    http: responses.RequestsMock,
    host: str,
    call: Callable[[], Callable[[], Any]],
    status: int,
    error: type[Exception],
    words: str,
    expected_tries: int,
) -> None:
    answer(http, host, status)
    with pytest.raises(error) as caught:
        call()()
    assert type(caught.value) is error
    message = str(caught.value)
    assert words in message
    if status != 404 or host == GITLAB:  # Jenkins' 404 page says nothing worth repeating
        assert "the server's words" in message
    assert tries(http) == expected_tries
    if expected_tries > 1:
        assert "gave up after 3 attempts" in message
    assert "t0ken" not in message


def test_a_restarting_jenkins_is_retried_not_reported_as_a_missing_job(
    http: responses.RequestsMock,
) -> None:
    http.add(responses.GET, re.compile(f"{JENKINS}/crumbIssuer/.*"), status=404)
    job = re.compile(f"{JENKINS}/job/ml/job/model/api/json.*")
    http.add(responses.GET, job, status=503, body="Jenkins is getting ready to work")
    http.add(responses.GET, job, json={"name": "model", "color": "blue"})
    assert jenkins_call()()["name"] == "model"
    assert tries(http) == 2


def test_gitlab_rate_limiting_is_waited_out_by_python_gitlab_alone(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("gitlab.utils.time.sleep", waits.append)
    headers = {"Retry-After": "2"}
    http.add(responses.GET, re.compile(f"{GITLAB}/.*"), status=429, headers=headers, json={})
    with pytest.raises(ServerError) as caught:
        gitlab_call()()
    assert tries(http) == 11 and waits == [2] * 10  # python-gitlab's, then none of ours
    assert "kept rate-limiting reading the pipeline (HTTP 429" in str(caught.value)
