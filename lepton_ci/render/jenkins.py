"""Render the Jenkinsfile from the pipeline model (pure: model in, Groovy text out).

Two styles (``RenderOptions.style``):

``standalone``
    A declarative pipeline with every stage inline (``templates/jenkins/Jenkinsfile.standalone.j2``,
    the generic stage ``templates/jenkins/_stage.j2``, which a step kind's partial in
    ``templates/jenkins/stages/`` extends where its stage differs).
``library``
    ``@Library('<name>@v<version>') _`` and one ``leptonPipeline(...)`` call whose config map is
    built from the model; the shared library in ``jenkins/`` produces the same stages and commands.

Every value reaches Groovy through an escaping filter (single-quoted Groovy strings: nothing is
interpolated); secrets are only ever credential ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lepton_ci.pipeline.model import Command, Job, Pipeline, tag_regex
from lepton_ci.pipeline.steps import CREDENTIAL_VARIABLES, REPORT_NAME, CredentialKind
from lepton_ci.render.escape import render_template
from lepton_ci.render.options import RenderOptions

STASH_PREFIX = "lepton-"
MAX_RETRIES = 2
PIP_CACHE = "@tmp/lepton-pip-cache"
"""pip's cache on the agent, beside the workspace (``<workspace>@tmp``: kept between builds,
never archived, mounted into ``docker`` agents); a ``PIP_CACHE_DIR`` set on the agent wins.
The shared library's LeptonRunner uses the same path."""
STASH_RECORD = "leptonStashes"
"""The Jenkinsfile's build-scoped record of the stashes taken so far (a script variable): a stage
whose input is optional (``Job.after``) unstashes only what it holds, since ``unstash`` of a name
never stashed fails the step (StashManager.unstash, jenkinsci/workflow-api-plugin). The shared
library keeps the same record in ``leptonPipeline``."""


@dataclass(frozen=True)
class StageView:
    """What a stage template needs beyond the job itself: the stashes handed between agents,
    the release-tag regex (``tag pattern: ..., comparator: 'REGEXP'``; None: no tag builds),
    the stage's own time limit, for a deploy the ordinals of its milestones, and for a job that
    writes an HTML page (the report) what ``publishHTML`` publishes in ``post { always }``.

    ``unstash_after``: the stashes of the jobs it takes artifacts from only where they ran
    (``Job.after``: register for the report), unstashed only when the build's record
    (:data:`STASH_RECORD`) holds them; ``record``: the stage adds its stash to that record.

    ``approval_milestone`` is passed right after the approval, ``milestone`` inside the
    environment's ``lock`` right before the deploy (None: no such milestone). Ordinals are fixed
    per position in the file, so every build of a job compares the same points.
    """

    job: Job
    stash: str | None
    includes: str | None
    unstash: tuple[str, ...]
    unstash_after: tuple[str, ...] = ()
    record: bool = False
    tag_pattern: str | None = None
    setup: tuple[Command, ...] = ()
    timeout_minutes: int = 0
    milestone: int | None = None
    approval_milestone: int | None = None
    html: HtmlTarget | None = None


@dataclass(frozen=True)
class HtmlTarget:
    """A job's HTML page as the HTML Publisher plugin's ``publishHTML(target: [...])`` takes it
    (HtmlPublisherTarget, jenkinsci/htmlpublisher-plugin): kept with every build, the job's link
    going to the last build's even when it failed, and a missing page (the step failed before
    writing it) failing nothing."""

    report_dir: str
    report_files: str
    report_name: str = REPORT_NAME


def html_target(job: Job) -> HtmlTarget | None:
    """The page whose images are files: Jenkins serves published files with a CSP that
    forbids inline images and styles (``img-src 'self'; style-src 'self'``, jenkins.io
    doc/book/security/configuring-content-security-policy)."""
    if job.reports.page is None:
        return None
    page = PurePosixPath(job.reports.page)
    return HtmlTarget(report_dir=str(page.parent), report_files=page.name)


def render_jenkinsfile(pipeline: Pipeline, options: RenderOptions) -> str:
    """The Jenkinsfile body (the ``//`` header is added by ``GeneratedFile``)."""
    if options.style == "library":
        return render_template(
            "jenkins/Jenkinsfile.library.j2",
            pipeline=pipeline,
            options=options,
            config=library_config(pipeline),
        )
    if options.style != "standalone":
        raise ValueError(f"unknown style {options.style!r}; allowed: library, standalone")
    return render_template(
        "jenkins/Jenkinsfile.standalone.j2",
        pipeline=pipeline,
        stages=stage_views(pipeline),
        pip_cache=PIP_CACHE,
        retry=agent_retries(pipeline),
        path_entry=pipeline.install.path_entry,
        cron=cron_spec(pipeline),
        stash_record=STASH_RECORD,
    )


def agent_retries(pipeline: Pipeline) -> int:
    """Reruns of a stage whose agent went away (``ci.retry``); 0: none.

    Rendered as ``retry(count: retries + 1, conditions: [agent(), nonresumable()])``: Jenkins'
    ``count`` counts attempts, and with conditions only a lost agent or a build that cannot
    resume after a controller restart is retried, never a failing step (GitLab's
    ``runner_system_failure`` semantics).
    """
    if not 0 <= pipeline.retry <= MAX_RETRIES:
        raise ValueError(f"retry must be 0..{MAX_RETRIES}, not {pipeline.retry}")
    return pipeline.retry


def stash_name(job: Job) -> str:
    return STASH_PREFIX + job.name


def artifact_includes(paths: tuple[str, ...]) -> str:
    """Ant patterns for stash/archiveArtifacts: each path as a file and as a directory."""
    return ", ".join(f"{p}, {p}/**" for p in paths)


def stage_views(pipeline: Pipeline) -> list[StageView]:
    by_name = {job.name: job for job in pipeline.jobs}
    ordinals = milestone_ordinals(pipeline)
    optional = {name for job in pipeline.jobs for name in job.after if name in by_name}
    return [
        StageView(
            job=job,
            stash=stash_name(job) if job.artifacts else None,
            includes=artifact_includes(job.artifacts) if job.artifacts else None,
            unstash=tuple(stash_name(by_name[n]) for n in job.needs if by_name[n].artifacts),
            unstash_after=tuple(
                stash_name(by_name[n])
                for n in job.after
                if n in by_name and by_name[n].artifacts and n not in job.needs
            ),
            record=bool(job.artifacts) and job.name in optional,
            tag_pattern=tag_regex(job.rule.tags) if job.rule.tags is not None else None,
            setup=pipeline.setup(job),
            timeout_minutes=job.timeout_minutes or pipeline.timeout_minutes,
            milestone=ordinals.get(job.name),
            approval_milestone=ordinals.get(approval_point(job)),
            html=html_target(job),
        )
        for job in pipeline.jobs
    ]


def approval_point(job: Job) -> str:
    """The key of a job's approval in ``milestone_ordinals``."""
    return f"{job.name}:approved"


def milestone_ordinals(pipeline: Pipeline) -> dict[str, int]:
    """Milestone ordinals, in pipeline order: per deploy, its approval (if any), then the deploy.

    pipeline-milestone-step aborts a build that reaches a milestone a newer build of the same job
    already passed, so an older build never deploys after a newer one. The library numbers its
    milestones the same way (``LeptonStages.milestones``).
    """
    points = [
        point
        for job in pipeline.jobs
        if job.step == "deploy"
        for point in ((approval_point(job),) if job.approval else ()) + (job.name,)
    ]
    return {point: i for i, point in enumerate(points, start=1)}


def release_tags(pipeline: Pipeline) -> str | None:
    """The release-tag glob of the pipeline (``project.release_tags``), or None.

    The shared library takes one glob for all stages, as the model builds them; a pipeline
    whose jobs disagree cannot be expressed in library style.
    """
    globs = {job.rule.tags for job in pipeline.jobs if job.rule.tags is not None}
    if len(globs) > 1:
        raise ValueError(f"jobs disagree on release tags: {sorted(globs)}")
    return next(iter(globs), None)


def cron_spec(pipeline: Pipeline) -> str:
    """Jenkins cron with its time zone line (``TZ=...``), or '' without a schedule."""
    if pipeline.schedule is None:
        return ""
    return f"TZ={pipeline.schedule.timezone}\n{pipeline.schedule.cron}"


def library_config(pipeline: Pipeline) -> dict[str, Any]:
    """The ``leptonPipeline`` config map: what the library needs to rebuild the model's jobs.

    Keys and defaults are documented in ``jenkins/vars/leptonPipeline.txt``.
    """
    jobs = {job.name: job for job in pipeline.jobs}
    deploys = [job for job in pipeline.jobs if job.step == "deploy"]
    agents: dict[str, dict[str, str | None]] = {}
    timeouts: dict[str, int] = {}
    for job in pipeline.jobs:
        key = job.step
        if job.agent.label or job.agent.image:
            agents.setdefault(key, {"label": job.agent.label, "image": job.agent.image})
        if job.timeout_minutes:
            timeouts.setdefault(key, job.timeout_minutes)
    return {
        "project": pipeline.project,
        "model": pipeline.model,
        "spec": pipeline.spec_path,
        "defaultBranch": pipeline.default_branch,
        "releaseTags": release_tags(pipeline),
        "cron": pipeline.schedule.cron if pipeline.schedule else None,
        "timezone": pipeline.schedule.timezone if pipeline.schedule else "UTC",
        "timeoutMinutes": pipeline.timeout_minutes,
        "keepBuilds": pipeline.keep_builds,
        "retry": agent_retries(pipeline),
        "install": pipeline.install.enabled,
        "requirement": pipeline.install.requirement(),
        "requirements": {
            job.name: pipeline.install.requirement(job.extras) for job in pipeline.jobs
        },
        "constraints": list(pipeline.install.constraints),
        "requirementFiles": list(pipeline.install.requirements),
        "installProject": pipeline.install.project,
        "indexUrl": pipeline.install.index_url,
        "venv": pipeline.install.venv,
        "agents": agents,
        "stageTimeouts": timeouts,
        "variables": dict(pipeline.variables),
        "credentials": _present(
            **{kind: _credential_id(pipeline, kind) for kind in CREDENTIAL_VARIABLES}
        ),
        "promoteOnRegister": "register" in jobs and jobs["register"].promotes,
        "registerResource": jobs["register"].resource_group if "register" in jobs else None,
        "environments": [
            {
                "name": job.environment.name if job.environment else job.name,
                "target": job.environment.target if job.environment else "docker",
                "approval": job.approval is not None,
                "approvers": list(job.approval.approvers) if job.approval else [],
                "promote": job.promotes,
                "approvalTimeoutHours": job.approval.timeout_hours if job.approval else None,
                "resource": job.resource_group,
            }
            for job in deploys
        ],
    }


def _credential_id(pipeline: Pipeline, kind: CredentialKind) -> str | None:
    """The id of the ``kind`` credential (bound to its variables) in any job, or None."""
    variables = CREDENTIAL_VARIABLES[kind]
    found = (c.id for job in pipeline.jobs for c in job.credentials if c.variables == variables)
    return next(found, None)


def _present(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}
