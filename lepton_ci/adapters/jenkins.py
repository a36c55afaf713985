"""Jenkins, over python-jenkins: job sync, builds with a live console, the declarative linter.

Every call goes through :meth:`JenkinsServer._call`, which retries transient failures (timeouts,
connection errors, 5xx) with bounded exponential backoff and turns python-jenkins' exceptions
into ours, naming the job and the credential and quoting the controller's own (redacted) words.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from lepton_ci.adapters.base import (
    AuthError,
    LintFailed,
    NotFound,
    require_env,
    server_words,
)
from lepton_ci.errors import (
    ExitCode,
    GateFailed,
    LeptonError,
    MissingDependency,
    ServerError,
    StepError,
)
from lepton_ci.redaction import redact
from lepton_ci.retrying import Backoff, Transient, poll_until

T = TypeVar("T")
_STATUS = re.compile(r"\[(\d{3})\]")


class JobDrift(LeptonError):
    """The job was changed on the controller since lepton-ci last wrote it."""

    exit_code = ExitCode.DRIFT


@dataclass(frozen=True)
class SyncResult:
    job: str
    action: str  # "created" | "updated" | "unchanged" | "overwritten"
    changes: tuple[str, ...] = ()


@dataclass
class TestSummary:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failed_names: list[str] = field(default_factory=list)
    passed_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildOutcome:
    job: str
    number: int
    url: str
    result: str
    tests: TestSummary | None


class JenkinsServer:
    """A Jenkins controller reached with ``JENKINS_URL`` / ``JENKINS_USER`` / ``JENKINS_TOKEN``."""

    def __init__(
        self,
        url: str,
        user: str | None,
        token: str | None,
        *,
        retry: Backoff | None = None,
    ) -> None:
        try:
            import jenkins
        except ImportError:
            raise MissingDependency("python-jenkins", "jenkins") from None
        self._jenkins_mod = jenkins
        self.retry = retry or Backoff.from_env()
        self.url = url.rstrip("/") + "/"
        self._user = user
        # python-jenkins retries only connection errors, without telling; we retry ourselves.
        self.client = jenkins.Jenkins(  # type: ignore[attr-defined]
            self.url, username=user, password=token, timeout=self.retry.timeout_seconds, retries=0
        )

    @classmethod
    def from_env(cls, *, retry: Backoff | None = None) -> JenkinsServer:
        url = require_env("JENKINS_URL", "the Jenkins controller to talk to")
        user = os.environ.get("JENKINS_USER")
        token = os.environ.get("JENKINS_TOKEN")
        if bool(user) != bool(token):
            missing = "JENKINS_TOKEN" if user else "JENKINS_USER"
            require_env(missing, "JENKINS_USER and JENKINS_TOKEN go together (user + API token)")
        return cls(url, user, token, retry=retry)

    # -- error translation ---------------------------------------------------------------

    def _call(
        self, what: str, func: Callable[[], T], *, subject: str = "", write: bool = False
    ) -> T:
        """Run one python-jenkins call with retries and our errors."""

        def once() -> T:
            try:
                return func()
            except Exception as exc:  # python-jenkins raises JenkinsException and requests errors
                raise self._translate(exc, what, subject, write) from None

        return self.retry.call(once)

    def _translate(self, exc: Exception, what: str, subject: str, write: bool) -> Exception:
        import requests

        jenkins = self._jenkins_mod
        status: int | None = None
        body = ""
        http = _http_error(exc)
        if http is not None:
            status, body = http.response.status_code, http.response.text
        elif isinstance(exc, jenkins.NotFoundException):
            status = 404
        elif isinstance(exc, jenkins.TimeoutException):
            return Transient(
                ServerError(
                    f"Jenkins at {self._where()} did not answer {what} in time "
                    f"({self.retry.timeout_seconds:g}s)",
                    hint="check the controller's load, or raise LEPTON_HTTP_TIMEOUT",
                )
            )
        elif isinstance(exc, requests.ConnectionError):
            return Transient(
                ServerError(
                    f"cannot reach Jenkins at {self._where()} ({what}): {server_words(str(exc))}",
                    hint="check JENKINS_URL and that the controller is up",
                )
            )
        elif isinstance(exc, jenkins.JenkinsException):
            text = str(exc)
            found = _STATUS.search(text)
            status = int(found.group(1)) if found else None
            body = text.split("\n", 1)[1] if "\n" in text else ("" if found else text)
            if "does not exist" in text and status is None:
                status = 404
        words = server_words(body)
        said = f": {words}" if words else ""
        if status in (401, 403):
            who = f"user {self._user!r} with JENKINS_TOKEN" if self._user else "anonymous access"
            if status == 401:
                return AuthError(
                    f"Jenkins rejected the credentials ({what}, HTTP 401){said}",
                    hint=f"{who} was refused; set JENKINS_USER and a valid API token in "
                    "JENKINS_TOKEN (User > Security > API Token)",
                )
            need = (
                "Job/Configure and Job/Create" if write else "Overall/Read, Job/Read and Job/Build"
            )
            return AuthError(
                f"Jenkins refused {what} (HTTP 403){said}",
                hint=f"{who} lacks permission; it needs {need}"
                + (f" on {subject}" if subject else ""),
            )
        if status == 404:
            return NotFound(
                f"Jenkins has no {subject or 'such item'} ({what}, HTTP 404)",
                hint="check the job name and folder (jobs in folders are written folder/job) "
                "and that the user may see it",
            )
        if status is not None and (status >= 500 or status == 429):
            return Transient(ServerError(f"Jenkins failed {what} (HTTP {status}){said}"))
        if status is not None:
            return ServerError(f"Jenkins refused {what} (HTTP {status}){said}")
        return ServerError(f"Jenkins {what} failed: {type(exc).__name__}: {server_words(str(exc))}")

    def _where(self) -> str:
        return redact(self.url)

    # -- raw requests (progressive text, linter) ----------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        return self.client.jenkins_request(requests.Request(method, self.url + path, **kwargs))

    def job_path(self, name: str) -> str:
        """``folder/job`` -> ``job/folder/job/job/`` (URL path, each part quoted)."""
        return "".join(f"job/{quote(part, safe='')}/" for part in name.strip("/").split("/"))

    # -- jobs ------------------------------------------------------------------------------

    def job_config(self, name: str) -> str | None:
        """The job's config.xml, or None when there is no such job."""
        jenkins = self._jenkins_mod

        def get() -> str | None:
            try:
                config: str = self.client.get_job_config(name)
                return config
            except jenkins.NotFoundException:
                return None

        return self._call("reading the job configuration", get, subject=f"job {name!r}")

    def create_job(self, name: str, config_xml: str) -> None:
        self._call(
            "creating the job",
            lambda: self.client.create_job(name, config_xml),
            subject=f"job {name!r}",
            write=True,
        )

    def reconfigure_job(self, name: str, config_xml: str) -> None:
        self._call(
            "updating the job",
            lambda: self.client.reconfig_job(name, config_xml),
            subject=f"job {name!r}",
            write=True,
        )

    def job_info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self._call(
            "reading the job", lambda: self.client.get_job_info(name), subject=f"job {name!r}"
        )
        return info

    # -- builds ----------------------------------------------------------------------------

    def start_build(self, name: str, parameters: dict[str, str]) -> int:
        """Queue a build; returns the queue item id."""
        info = self.job_info(name)
        parameterized = any(
            prop.get("parameterDefinitions") for prop in info.get("property", []) or []
        )
        if parameters or parameterized:
            path = f"{self.job_path(name)}buildWithParameters"
            data = parameters
        else:
            path, data = f"{self.job_path(name)}build", {}

        def post() -> int:
            response = self._request("POST", path, data=data)
            location = response.headers.get("Location", "")
            found = re.search(r"/queue/item/(\d+)", location)
            if not found:
                raise ServerError(f"Jenkins queued the build but sent no queue item ({location!r})")
            return int(found.group(1))

        return self._call("starting a build", post, subject=f"job {name!r}", write=True)

    def wait_for_build_number(self, queue_id: int, *, poll: float, timeout: float) -> int:
        """Follow the queue item until it becomes a build; returns the build number."""
        said_why = why = ""

        def build_number() -> int | None:
            nonlocal said_why, why
            item: dict[str, Any] = self._call(
                "reading the queue item",
                lambda: self._request("GET", f"queue/item/{queue_id}/api/json").json(),
                subject=f"queue item {queue_id}",
            )
            if item.get("cancelled"):
                raise StepError(f"the build was cancelled while queued (queue item {queue_id})")
            executable = item.get("executable") or {}
            if executable.get("number") is not None:
                return int(executable["number"])
            why = str(item.get("why") or "")
            if why and why != said_why:
                from lepton_ci.console import info as say

                say(f"queued: {server_words(why)}", step="jenkins")
                said_why = why
            return None

        return poll_until(
            build_number,
            timeout=timeout,
            interval=poll,
            error=lambda: ServerError(
                f"the build stayed in the queue for {timeout:g}s: {server_words(why)}",
                hint="check that an agent with the job's label is online",
            ),
        )

    def console_chunks(self, name: str, number: int, *, poll: float) -> Iterator[str]:
        """The build's console text as it grows (``logText/progressiveText``)."""
        start = 0
        path = f"{self.job_path(name)}{number}/logText/progressiveText"
        while True:
            response = self._call(
                "reading the console log",
                functools.partial(self._request, "GET", path, params={"start": start}),
                subject=f"build {name} #{number}",
            )
            if response.text:
                yield response.text
            start = int(response.headers.get("X-Text-Size", start + len(response.content)))
            if response.headers.get("X-More-Data", "").lower() != "true":
                return
            time.sleep(poll)

    def build_result(
        self, name: str, number: int, *, poll: float, timeout: float
    ) -> dict[str, Any]:
        """Build info once the build has a result (the console may end slightly earlier)."""

        def finished() -> dict[str, Any] | None:
            info: dict[str, Any] = self._call(
                "reading the build",
                lambda: self.client.get_build_info(name, number),
                subject=f"build {name} #{number}",
            )
            return info if info.get("result") or not info.get("building", False) else None

        return poll_until(
            finished,
            timeout=timeout,
            interval=poll,
            error=lambda: ServerError(f"build {name} #{number} has no result after {timeout:g}s"),
        )

    def test_report(self, name: str, number: int) -> dict[str, Any] | None:
        """The build's JUnit test report, or None when it published none."""

        def get() -> dict[str, Any] | None:
            try:
                path = f"{self.job_path(name)}{number}/testReport/api/json"
                report: dict[str, Any] = self._request("GET", path).json()
                return report
            except self._jenkins_mod.NotFoundException:
                return None

        return self._call("reading the test report", get, subject=f"build {name} #{number}")

    # -- linter ----------------------------------------------------------------------------

    def validate_jenkinsfile(self, text: str) -> str:
        """The declarative linter's answer (``pipeline-model-converter/validate``)."""
        response = self._call(
            "validating the Jenkinsfile",
            lambda: self._request(
                "POST", "pipeline-model-converter/validate", data={"jenkinsfile": text}
            ),
            subject="the declarative linter (Pipeline: Declarative plugin)",
        )
        return str(response.text)


# -- the operations the CLI calls ---------------------------------------------------------


def sync_job(server: JenkinsServer, name: str, config_xml: str, *, force: bool) -> SyncResult:
    """Create or update ``name`` with ``config_xml``; no write when nothing changed.

    A job whose owned fields no longer match the digest stored at the last sync was edited on
    the controller: :class:`JobDrift` lists the differences unless ``force``.
    """
    from lepton_ci.platforms.jenkins_job import (
        field_changes,
        fields_digest,
        job_fields,
        stored_digest,
    )

    desired = job_fields(config_xml)
    current_xml = server.job_config(name)
    if current_xml is None:
        server.create_job(name, config_xml)
        return SyncResult(name, "created")
    current = job_fields(current_xml)
    changes = tuple(field_changes(current, desired))
    if not changes:
        return SyncResult(name, "unchanged")
    stored = stored_digest(current_xml)
    edited = stored is None or stored != fields_digest(current)
    if edited and not force:
        why = (
            "was not created by lepton-ci jenkins sync"
            if stored is None
            else "was edited on the controller since the last sync"
        )
        raise JobDrift(
            f"job {name!r} {why}; differences from the spec:\n"
            + "\n".join(f"  {line}" for line in changes),
            hint="move the change into lepton.yaml, or rerun with --force to overwrite the job",
        )
    server.reconfigure_job(name, config_xml)
    return SyncResult(name, "overwritten" if edited else "updated", changes)


def summarize_tests(report: dict[str, Any] | None) -> TestSummary | None:
    if report is None:
        return None
    summary = TestSummary(
        passed=int(report.get("passCount", 0)),
        failed=int(report.get("failCount", 0)),
        skipped=int(report.get("skipCount", 0)),
    )
    for suite in report.get("suites", []) or []:
        for case in suite.get("cases", []) or []:
            name = str(case.get("name", "?"))
            status = str(case.get("status", ""))
            if status in ("FAILED", "REGRESSION"):
                summary.failed_names.append(name)
            elif status in ("PASSED", "FIXED"):
                summary.passed_names.append(name)
    return summary


def run_build(
    server: JenkinsServer,
    name: str,
    parameters: dict[str, str],
    *,
    out: Callable[[str], None],
    poll: float = 2.0,
    queue_timeout: float = 3600.0,
) -> BuildOutcome:
    """Trigger, follow the console live, then read the result and the test report."""
    from lepton_ci.console import info as say

    queue_id = server.start_build(name, parameters)
    say(f"queued {name} (queue item {queue_id})", step="jenkins")
    number = server.wait_for_build_number(queue_id, poll=poll, timeout=queue_timeout)
    url = f"{redact(server.url)}{server.job_path(name)}{number}/"
    say(f"build #{number} started: {url}", step="jenkins")
    for chunk in server.console_chunks(name, number, poll=poll):
        out(chunk)
    info = server.build_result(name, number, poll=poll, timeout=300.0)
    tests = summarize_tests(server.test_report(name, number))
    return BuildOutcome(name, number, url, str(info.get("result") or "UNKNOWN"), tests)


def check_outcome(outcome: BuildOutcome) -> None:
    """Raise the error whose exit code matches the build's result (success returns)."""
    where = f"{outcome.job} #{outcome.number} ({outcome.url})"
    failed_gates = outcome.tests.failed if outcome.tests else 0
    if outcome.result == "SUCCESS":
        return
    if outcome.result in ("UNSTABLE", "FAILURE") and failed_gates:
        names = ", ".join(outcome.tests.failed_names) if outcome.tests else ""
        raise GateFailed(
            f"build {where} ended {outcome.result}: {failed_gates} gate(s) failed: {names}"
        )
    raise StepError(f"build {where} ended {outcome.result}")


def lint_jenkinsfile(server: JenkinsServer, text: str, file: str) -> str:
    """Validate with the controller's linter; returns its message or raises :class:`LintFailed`."""
    answer = server.validate_jenkinsfile(text).strip()
    if "successfully validated" in answer.lower():
        return answer
    raise LintFailed(f"{file}: Jenkins' declarative linter rejected it:\n{redact(answer)}")


def _http_error(exc: BaseException) -> Any:
    """The HTTP error behind ``exc``, if any. python-jenkins raises its own exceptions inside
    ``except HTTPError`` and drops the status: ``get_job_info`` turns any HTTP error (a 503 of a
    restarting controller, a proxy's 429) into "job does not exist" (python-jenkins 1.8
    ``jenkins/__init__.py``); the original stays the exception's context."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.HTTPError) and seen.response is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
