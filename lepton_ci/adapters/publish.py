"""``lepton-ci report --publish``: show the written report where the run's reviewers look.

On GitLab (``GITLAB_CI=true``), in a merge-request pipeline (``CI_MERGE_REQUEST_IID``) and with
``GITLAB_TOKEN`` (a project access token with the ``api`` scope, stored as a masked CI/CD
variable), the merge request's one lepton-ci note is posted or updated in place: metrics, gates
and champion diff as ``gitlab report`` writes them, each ``<report dir>/plots/*.png`` uploaded
(Markdown uploads API) and embedded under "Plots", and a link to the HTML report among the job's
artifacts. ``CI_JOB_TOKEN`` is never used for this: GitLab's job token reaches only a short list
of APIs (https://docs.gitlab.com/ci/jobs/ci_job_token/#job-token-access), and neither notes nor
uploads are on it.

A report never fails the pipeline: without a token, outside a merge request, or when GitLab
refuses, :func:`publish_report` returns one line saying why there is no note, and the command
exits 0. Elsewhere (Jenkins, a laptop) it only says where the report is; Jenkins publishes it
with the pipeline's own ``publishHTML`` step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from lepton_ci.errors import LeptonError
from lepton_ci.layout import PLOTS_DIR
from lepton_ci.render.escape import Safe
from lepton_ci.run_dir import RunDir

# Where `lepton_ci.report` writes the plots it embeds, as files, beside index.html.


@dataclass(frozen=True)
class Published:
    """What publishing did, as the one line to print (``warning``: print it on stderr)."""

    message: str
    warning: bool = False
    note_id: int | None = None
    uploads: tuple[str, ...] = ()


def publish_report(
    report: Path,
    run_dir: Path,
    *,
    spec_path: str = "lepton.yaml",
    warn: Callable[[str], None] = lambda line: None,
) -> Published:
    """Publish the report at ``report`` (written from ``run_dir``) where this run is."""
    if os.environ.get("GITLAB_CI") != "true":
        return Published(f"publish: not a GitLab CI job; nothing more to do (report: {report})")
    iid = os.environ.get("CI_MERGE_REQUEST_IID", "")
    if not iid:
        return Published(
            "publish: no merge-request note: not a merge-request pipeline "
            "(CI_MERGE_REQUEST_IID is not set)"
        )
    if not os.environ.get("GITLAB_TOKEN"):
        return Published(
            "publish: no merge-request note: GITLAB_TOKEN is not set (CI_JOB_TOKEN cannot "
            "write notes; store a project access token with the `api` scope as a masked "
            "CI/CD variable GITLAB_TOKEN)"
        )
    try:
        return _post(report, run_dir, iid, spec_path, warn)
    except LeptonError as exc:
        from lepton_ci.redaction import redact

        hint = f" ({exc.hint})" if exc.hint else ""
        return Published(
            redact(f"warning: no merge-request note: {exc.message}{hint}".replace("\n", " ")),
            warning=True,
        )


def merge_request_note(
    run_dir: Path,
    *,
    spec_path: str = "lepton.yaml",
    project: str | None = None,
    mr_iid: int | None = None,
    dry_run: bool = False,
    warn: Callable[[str], None] = lambda line: None,
) -> str:
    """``lepton-ci gitlab report``: post (or update) the merge request's one note with the
    metrics, gates and champion diff of ``run_dir`` (no plots: ``report --publish`` adds those),
    and return what to print; with ``dry_run`` the note's body, posting nothing."""
    from lepton_ci.adapters.gitlab import GitLabServer, project_from_env, upsert_note
    from lepton_ci.platforms.gitlab_report import load_metrics, render_report, report_marker

    metrics = load_metrics(RunDir.at(run_dir).metrics_json)
    champion = champion_metrics(spec_path, warn=warn)
    body = render_report(metrics, champion_metrics=champion, context=note_context())
    if dry_run:
        return body
    iid = mr_iid or int(os.environ.get("CI_MERGE_REQUEST_IID") or 0)
    if not iid:
        raise LeptonError(
            "no merge request: CI_MERGE_REQUEST_IID is not set",
            hint="run in a merge-request pipeline, or pass --mr IID",
        )
    result = upsert_note(
        GitLabServer.from_env(),
        project_from_env(project),
        iid,
        body,
        report_marker(str(metrics.get("model") or "model")),
    )
    return f"merge request !{iid}: note {result.note_id} {result.action}\n"


def _post(
    report: Path, run_dir: Path, iid_text: str, spec_path: str, warn: Callable[[str], None]
) -> Published:
    from lepton_ci.adapters.base import require_env
    from lepton_ci.adapters.gitlab import GitLabServer, upsert_note
    from lepton_ci.platforms.gitlab_report import (
        load_metrics,
        render_attachments,
        render_report,
        report_marker,
        upload_markdown,
    )

    if not iid_text.isdigit():
        raise LeptonError(f"CI_MERGE_REQUEST_IID={iid_text!r} is not a merge request IID")
    iid = int(iid_text)
    metrics = load_metrics(RunDir.at(run_dir).metrics_json)
    url = require_env("GITLAB_URL", "the GitLab instance", alternatives=("CI_SERVER_URL",))
    server = GitLabServer(url, private_token=os.environ["GITLAB_TOKEN"])  # never the job token
    project = require_env("CI_PROJECT_ID", "which project", alternatives=("CI_PROJECT_PATH",))
    plots = sorted((report.parent / PLOTS_DIR).glob("*.png"))
    images = [
        upload_markdown(server.upload(project, plot.name, plot.read_bytes())) for plot in plots
    ]
    body = render_report(
        metrics,
        champion_metrics=champion_metrics(spec_path, warn),
        context=note_context(),
        attachments=render_attachments(images, artifact_url(report)),
    )
    result = upsert_note(
        server, project, iid, body, report_marker(str(metrics.get("model") or "model"))
    )
    return Published(
        f"publish: merge request !{iid}: note {result.note_id} {result.action} "
        f"({len(images)} plot(s) uploaded)",
        note_id=result.note_id,
        uploads=tuple(str(image) for image in images),
    )


def artifact_url(report: Path) -> Safe | None:
    """The report among the job's artifacts, ``$CI_JOB_URL/artifacts/file/<path>``, ``<path>``
    relative to ``CI_PROJECT_DIR`` (docs.gitlab.com/ci/jobs/job_artifacts/, "Browse the contents
    of the artifacts archive"); ``None`` outside a job or for a report outside the project."""
    from lepton_ci.platforms.gitlab_report import link_target

    job_url = os.environ.get("CI_JOB_URL")
    if not job_url:
        return None
    base = Path(os.environ.get("CI_PROJECT_DIR") or Path.cwd()).resolve()
    try:
        relative = report.resolve().relative_to(base)
        return link_target(f"{job_url.rstrip('/')}/artifacts/file/{quote(relative.as_posix())}")
    except (ValueError, LeptonError):
        return None


def note_context() -> str:
    """``commit <sha> · pipeline <url>`` from the CI job's variables, what is set of them."""
    parts = []
    if os.environ.get("CI_COMMIT_SHORT_SHA"):
        parts.append(f"commit {os.environ['CI_COMMIT_SHORT_SHA']}")
    if os.environ.get("CI_PIPELINE_URL"):
        parts.append(f"pipeline {os.environ['CI_PIPELINE_URL']}")
    return " · ".join(parts)


def champion_metrics(
    spec_path: str, warn: Callable[[str], None] = lambda line: None
) -> dict[str, float] | None:
    """The champion's metrics from the registry, when the spec and its registry are at hand."""
    from lepton_ci.registry import is_postgres, open_registry
    from lepton_ci.spec import load_spec

    if not Path(spec_path).is_file():
        return None
    try:
        spec = load_spec(spec_path)
        root = Path(spec_path).resolve().parent
        location = os.environ.get("LEPTON_REGISTRY") or spec.registry.path
        if spec.registry.sql and not is_postgres(location) and not (root / location).is_file():
            return None  # no registry yet: nothing to compare with (and none is created)
        with open_registry(spec, root) as registry:
            champion = registry.champion(spec.model_name)
    except LeptonError as exc:
        warn(f"note: champion metrics unavailable ({exc.message})")
        return None
    return dict(champion.metrics) if champion is not None else None
