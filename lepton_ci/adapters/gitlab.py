"""GitLab, over python-gitlab: CI lint, pipelines, schedules, merge-request reports and uploads.

Authentication comes from the environment only: ``GITLAB_TOKEN`` (a project, group or personal
access token) or, inside a CI job, ``CI_JOB_TOKEN``. The server is ``GITLAB_URL`` or the job's
``CI_SERVER_URL``. :meth:`GitLabServer._call` retries transient failures and turns
python-gitlab's exceptions into ours with GitLab's own (redacted) message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lepton_ci.adapters.base import (
    AuthError,
    ConfigurationMissing,
    LintFailed,
    NotFound,
    require_env,
    server_words,
)
from lepton_ci.errors import LeptonError, MissingDependency, ServerError, StepError
from lepton_ci.redaction import redact
from lepton_ci.retrying import Backoff, Transient, poll_until

T = TypeVar("T")
FINISHED = ("success", "failed", "canceled", "skipped", "manual", "scheduled")
# Mutations are retried only on answers that mean "never reached GitLab's application".
_SAFE_TO_RETRY_WRITES = (502, 503, 504)
# python-gitlab already waits out a 429 itself, 10 times, as GitLab's Retry-After or
# RateLimit-Reset says (gitlab/utils.py RequestsRetry.handle_retry_on_status); ours on top
# made one rate-limited call 44 requests.
RATE_LIMIT_RETRIES = 10


class GitLabServer:
    """A GitLab instance and the token lepton-ci acts with."""

    def __init__(
        self,
        url: str,
        *,
        private_token: str | None = None,
        job_token: str | None = None,
        retry: Backoff | None = None,
    ) -> None:
        try:
            import gitlab
        except ImportError:
            raise MissingDependency("python-gitlab", "gitlab") from None
        self.retry = retry or Backoff.from_env()
        self.url = url.rstrip("/")
        self.token_name = "GITLAB_TOKEN" if private_token else "CI_JOB_TOKEN"
        self._job_token = job_token if not private_token else None
        self.client = gitlab.Gitlab(
            self.url,
            private_token=private_token,
            job_token=self._job_token,
            timeout=self.retry.timeout_seconds,
            retry_transient_errors=False,  # we retry, with our bounds and messages
        )

    @classmethod
    def from_env(cls, *, retry: Backoff | None = None) -> GitLabServer:
        url = require_env(
            "GITLAB_URL", "the GitLab instance to talk to", alternatives=("CI_SERVER_URL",)
        )
        private = os.environ.get("GITLAB_TOKEN")
        job = os.environ.get("CI_JOB_TOKEN")
        if not private and not job:
            raise ConfigurationMissing(
                "neither GITLAB_TOKEN nor CI_JOB_TOKEN is set: no credentials for GitLab",
                hint="export GITLAB_TOKEN=<project access token with `api` scope>, or run inside "
                "a CI job (CI_JOB_TOKEN)",
            )
        return cls(url, private_token=private, job_token=job, retry=retry)

    # -- error translation ---------------------------------------------------------------

    def _call(
        self, what: str, func: Callable[[], T], *, subject: str = "", write: bool = False
    ) -> T:
        def once() -> T:
            try:
                return func()
            except LeptonError:
                raise
            except Exception as exc:
                raise self._translate(exc, what, subject, write) from None

        return self.retry.call(once)

    def _translate(self, exc: Exception, what: str, subject: str, write: bool) -> Exception:
        import requests

        from gitlab import exceptions as gle

        if isinstance(exc, requests.Timeout):
            return Transient(
                ServerError(
                    f"GitLab at {redact(self.url)} did not answer {what} in time "
                    f"({self.retry.timeout_seconds:g}s)",
                    hint="retry later, or raise LEPTON_HTTP_TIMEOUT",
                )
            )
        if isinstance(exc, requests.ConnectionError):
            return Transient(
                ServerError(
                    f"cannot reach GitLab at {redact(self.url)} ({what}): {server_words(str(exc))}",
                    hint="check GITLAB_URL (or CI_SERVER_URL)",
                )
            )
        if not isinstance(exc, gle.GitlabError):
            return ServerError(
                f"GitLab {what} failed: {type(exc).__name__}: {server_words(str(exc))}"
            )
        status = exc.response_code
        words = server_words(str(exc.error_message)) if exc.error_message else ""
        said = f": {words}" if words else ""
        if status == 401:
            return AuthError(
                f"GitLab rejected {self.token_name} ({what}, HTTP 401){said}",
                hint=f"{self.token_name} is invalid, expired or revoked; create a new token",
            )
        if status == 403:
            if self.token_name == "CI_JOB_TOKEN":
                hint = (
                    "CI_JOB_TOKEN may not do this; store a project access token with the `api` "
                    "scope (role Developer or higher) as a masked CI/CD variable GITLAB_TOKEN"
                )
            else:
                need = "the `api` scope and role Developer or higher" if write else "`read_api`"
                hint = f"GITLAB_TOKEN needs {need}" + (f" on {subject}" if subject else "")
            return AuthError(f"GitLab refused {what} (HTTP 403){said}", hint=hint)
        if status == 404:
            return NotFound(
                f"GitLab has no {subject or 'such resource'} ({what}, HTTP 404){said}",
                hint=f"check the id/path, and that {self.token_name} can see the project",
            )
        if status == 429:
            return ServerError(
                f"GitLab kept rate-limiting {what} (HTTP 429, {RATE_LIMIT_RETRIES} waits as "
                f"its Retry-After said){said}",
                hint="retry later, or ask the GitLab admin about the user's rate limits",
            )
        if status is not None and (
            status in _SAFE_TO_RETRY_WRITES or (status >= 500 and not write)
        ):
            return Transient(ServerError(f"GitLab failed {what} (HTTP {status}){said}"))
        if status is None and isinstance(exc, gle.GitlabConnectionError):
            return Transient(ServerError(f"cannot reach GitLab ({what}){said}"))
        return ServerError(f"GitLab refused {what} (HTTP {status}){said}")

    # -- resources -----------------------------------------------------------------------

    def project(self, ref: str) -> Any:
        """The project (numeric id or ``group/name``), without a request."""
        return self.client.projects.get(ref, lazy=True)

    def lint(self, project_ref: str, content: str, *, ref: str | None = None) -> dict[str, Any]:
        """The project's CI Lint answer for ``content`` (includes resolved by GitLab)."""
        data: dict[str, Any] = {"content": content, "include_jobs": False}
        if ref:
            data["ref"] = ref
        project = self.project(project_ref)
        answer = self._call(
            "linting the CI configuration",
            lambda: project.ci_lint.create(data),
            subject=f"project {project_ref!r}",
        )
        return dict(answer.attributes)

    def create_pipeline(
        self, project_ref: str, ref: str, variables: dict[str, str]
    ) -> dict[str, Any]:
        project = self.project(project_ref)
        if self._job_token:  # a job token may only use the trigger API
            token = self._job_token
            pipeline = self._call(
                "triggering a pipeline",
                lambda: project.trigger_pipeline(ref, token, variables=variables),
                subject=f"project {project_ref!r}",
                write=True,
            )
        else:
            body = {
                "ref": ref,
                "variables": [
                    {"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()
                ],
            }
            pipeline = self._call(
                "creating a pipeline",
                lambda: project.pipelines.create(body),
                subject=f"project {project_ref!r}",
                write=True,
            )
        return dict(pipeline.attributes)

    def pipeline(self, project_ref: str, pipeline_id: int) -> dict[str, Any]:
        project = self.project(project_ref)
        found = self._call(
            "reading the pipeline",
            lambda: project.pipelines.get(pipeline_id),
            subject=f"pipeline {pipeline_id} of project {project_ref!r}",
        )
        return dict(found.attributes)

    def pipeline_jobs(self, project_ref: str, pipeline_id: int) -> list[dict[str, Any]]:
        pipeline = self.project(project_ref).pipelines.get(pipeline_id, lazy=True)
        jobs = self._call(
            "listing the pipeline's jobs",
            lambda: pipeline.jobs.list(get_all=True, per_page=100),
            subject=f"pipeline {pipeline_id}",
        )
        return [dict(job.attributes) for job in jobs]

    def schedules(self, project_ref: str) -> list[Any]:
        project = self.project(project_ref)
        return list(
            self._call(
                "listing pipeline schedules",
                lambda: project.pipelineschedules.list(get_all=True, per_page=100),
                subject=f"project {project_ref!r}",
            )
        )

    def mr_notes(self, project_ref: str, iid: int) -> list[Any]:
        mr = self.project(project_ref).mergerequests.get(iid, lazy=True)
        return list(
            self._call(
                "listing merge-request notes",
                lambda: mr.notes.list(get_all=True, per_page=100, sort="asc"),
                subject=f"merge request !{iid} of project {project_ref!r}",
            )
        )

    def upload(self, project_ref: str, filename: str, data: bytes) -> dict[str, Any]:
        """Upload one file for Markdown (``POST /projects/:id/uploads``, multipart ``file``).

        GitLab answers ``{"id", "alt", "url", "full_path", "markdown"}``; ``markdown`` embeds the
        file in a note (https://docs.gitlab.com/api/project_markdown_uploads/#upload-a-file).
        This is python-gitlab's ``Project.upload(filename, filedata=...)`` (``UploadMixin`` in
        ``gitlab/mixins.py``) with one difference: that method formats ``/projects/{id}/uploads``
        from the lazy object's already-encoded id, so a ``group/name`` project is encoded twice
        (``ml%252Fdigits``) and not found; the project's ``encoded_id`` is used here instead.
        """
        project = self.project(project_ref)
        path = f"/projects/{project.encoded_id}/uploads"
        answer = self._call(
            f"uploading {filename}",
            lambda: self.client.http_post(path, files={"file": (filename, data)}),
            subject=f"project {project_ref!r}",
            write=True,
        )
        if not isinstance(answer, dict) or not answer.get("url"):
            raise ServerError(
                f"GitLab's answer to uploading {filename} has no `url`: {server_words(str(answer))}"
            )
        return answer


# -- the operations the CLI calls ---------------------------------------------------------


def lint_ci(
    server: GitLabServer, project: str, content: str, file: str, *, ref: str | None = None
) -> dict[str, Any]:
    """Lint with GitLab's CI Lint API; returns its answer or raises :class:`LintFailed`."""
    answer = server.lint(project, content, ref=ref)
    if not answer.get("valid"):
        errors = [redact(str(e)) for e in answer.get("errors") or []] or ["(no details given)"]
        raise LintFailed(
            f"{file}: GitLab's CI Lint rejected it:\n" + "\n".join(f"  {e}" for e in errors)
        )
    return answer


def follow_pipeline(
    server: GitLabServer,
    project: str,
    pipeline: dict[str, Any],
    *,
    out: Callable[[str], None],
    poll: float = 5.0,
    timeout: float = 6 * 3600,
) -> dict[str, Any]:
    """Poll the pipeline and its jobs, reporting each job's status change, until it finishes."""
    pipeline_id = int(pipeline["id"])
    seen: dict[int, str] = {}
    current: dict[str, Any] = {}

    def finished() -> dict[str, Any] | None:
        nonlocal current
        current = server.pipeline(project, pipeline_id)
        for job in sorted(server.pipeline_jobs(project, pipeline_id), key=lambda j: j["id"]):
            status = str(job.get("status"))
            if seen.get(job["id"]) != status:
                seen[job["id"]] = status
                reason = job.get("failure_reason")
                out(
                    f"  {job.get('stage')}/{job.get('name')}: {status}"
                    + (f" ({reason})" if reason and status == "failed" else "")
                )
        return current if current.get("status") in FINISHED else None

    return poll_until(
        finished,
        timeout=timeout,
        interval=poll,
        error=lambda: ServerError(
            f"pipeline {pipeline_id} still {current.get('status')} after "
            f"{timeout:g}s: {current.get('web_url')}"
        ),
    )


def check_pipeline(pipeline: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
    """Raise when the pipeline did not succeed (manual: waiting for someone, not a failure)."""
    status = pipeline.get("status")
    if status in ("success", "manual", "scheduled", "skipped"):
        return
    failed = [j for j in jobs if j.get("status") == "failed" and not j.get("allow_failure")]
    names = ", ".join(f"{j.get('name')} ({j.get('web_url')})" for j in failed)
    raise StepError(
        f"pipeline {pipeline.get('id')} {status}: {pipeline.get('web_url')}"
        + (f"\n  failed jobs: {names}" if names else "")
    )


@dataclass(frozen=True)
class ScheduleResult:
    action: str  # "created" | "updated" | "unchanged"
    schedule_id: int
    changes: tuple[str, ...] = ()


def ensure_schedule(
    server: GitLabServer,
    project: str,
    *,
    description: str,
    ref: str,
    cron: str,
    timezone: str,
) -> ScheduleResult:
    """Create or update the schedule named ``description``; no write when it already matches."""
    desired = {
        "description": description,
        "ref": ref,
        "cron": cron,
        "cron_timezone": timezone,
        "active": True,
    }
    existing = [
        s for s in server.schedules(project) if s.attributes.get("description") == description
    ]
    if not existing:
        manager = server.project(project).pipelineschedules
        created = server._call(
            "creating the pipeline schedule",
            lambda: manager.create(desired),
            subject=f"project {project!r}",
            write=True,
        )
        return ScheduleResult("created", int(created.get_id()))
    schedule = existing[0]
    changes = tuple(
        f"{key}: {schedule.attributes.get(key)!r} -> {value!r}"
        for key, value in desired.items()
        if schedule.attributes.get(key) != value
    )
    if not changes:
        return ScheduleResult("unchanged", int(schedule.get_id()))
    for key, value in desired.items():
        if schedule.attributes.get(key) != value:  # send only what changes
            setattr(schedule, key, value)
    server._call(
        "updating the pipeline schedule",
        schedule.save,
        subject=f"schedule {schedule.get_id()}",
        write=True,
    )
    return ScheduleResult("updated", int(schedule.get_id()), changes)


@dataclass(frozen=True)
class NoteResult:
    action: str  # "created" | "updated" | "unchanged"
    note_id: int


def upsert_note(server: GitLabServer, project: str, iid: int, body: str, marker: str) -> NoteResult:
    """Post ``body`` as the merge request's one lepton-ci note, updating it when it exists."""
    ours = [
        n
        for n in server.mr_notes(project, iid)
        if not n.attributes.get("system") and marker in str(n.attributes.get("body", ""))
    ]
    subject = f"merge request !{iid} of project {project!r}"
    if not ours:
        notes = server.project(project).mergerequests.get(iid, lazy=True).notes
        note = server._call(
            "posting the merge-request note",
            lambda: notes.create({"body": body}),
            subject=subject,
            write=True,
        )
        return NoteResult("created", int(note.get_id()))
    note = ours[0]
    if note.attributes.get("body") == body:
        return NoteResult("unchanged", int(note.get_id()))
    note.body = body
    server._call("updating the merge-request note", note.save, subject=subject, write=True)
    return NoteResult("updated", int(note.get_id()))


def project_from_env(explicit: str | None) -> str:
    """``--project``, else the CI job's ``CI_PROJECT_ID`` (or ``CI_PROJECT_PATH``)."""
    if explicit:
        return explicit
    return require_env(
        "CI_PROJECT_ID",
        "which project (or pass --project group/name)",
        alternatives=("CI_PROJECT_PATH",),
    )
