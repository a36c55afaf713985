"""Render ``.gitlab-ci.yml`` from the pipeline model. Pure: no I/O besides loading templates.

Two styles:

* ``standalone``: every job inline; needs nothing but lepton-ci (installed into a cached venv
  by a hidden base job, or preinstalled in the agent image).
* ``library``: includes our CI/CD components (``gitlab/templates/``) or the classic include
  template (``gitlab/include/lepton.gitlab-ci.yml``) pinned to a version, and adds only what
  the spec decides: inputs, environments, agents, timeouts, setup.

Free text from the spec reaches YAML only through the escaping filters (JSON-quoted scalars).
Where GitLab would expand ``$VARIABLES`` (``variables:``, ``tags:``), values are stored as
variables with ``expand: false`` so neither the pipeline nor the runner touches them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lepton_ci.errors import LeptonError
from lepton_ci.pipeline.model import (
    SWITCH_ON_REGEX,
    Agent,
    Command,
    Job,
    Pipeline,
    Rule,
    shell_line,
    tag_regex,
)
from lepton_ci.pipeline.steps import REPORT_NAME
from lepton_ci.pipeline.steps import row as step_row
from lepton_ci.render.escape import gitlab_expr_str, render_template
from lepton_ci.render.options import RenderOptions

RETRY_WHEN = (
    "runner_system_failure",
    "stuck_or_timeout_failure",
    "scheduler_failure",
    "api_failure",
)
"""Failures worth a retry: the runner's, never the step's own (a failing gate stays failed)."""

BASE_JOB = ".lepton-base"
"""Hidden job of the standalone file holding pip's cache (``cache:``, ``PIP_CACHE_DIR``)."""

PIP_CACHE_VARIABLE = "$CI_PROJECT_DIR/{cache_dir}"
"""``PIP_CACHE_DIR`` of lepton's jobs: inside the project, where ``cache:`` can keep it (GitLab's
own lib/gitlab/ci/templates/Python.gitlab-ci.yml and doc/ci/caching/index.md do the same)."""

INCLUDE_TEMPLATE = "/include/lepton.gitlab-ci.yml"
"""Path of the classic include template inside the published ``gitlab/`` project."""

PATH_EXPORT = 'export PATH="$CI_PROJECT_DIR/{venv}:$PATH"'
"""Environment line after setup (GitLab's counterpart of Jenkins' ``withEnv``), not a command."""

DEFAULT_TAG_REGEX = "^v.*$"
"""The templates' ``release_tags`` input default: ``tag_regex("v*")``, the spec's default."""

NO_TAG_REGEX = "^\\.$"
"""``release_tags`` input when the spec has no release tags: matches no git tag (a ref name
cannot start with ``.``) and not the empty string (what an unset ``$CI_COMMIT_TAG`` compares as),
so the templates' tag rule never fires, even where a workflow would let a tag pipeline through."""

SAFE_TAG_REGEX = re.compile(r"\^[A-Za-z0-9_.*\\-]*\$")
"""What a release-tag regex may look like inside ``/.../``: no slash, quote, space or ``$var``."""

DEPLOY_URL = "$LEPTON_DEPLOY_URL"
"""Environment URL when the spec gives none: `lepton-ci deploy` writes it to its dotenv report."""


def render_gitlab_ci(pipeline: Pipeline, options: RenderOptions) -> str:
    """The body of ``.gitlab-ci.yml`` (GeneratedFile adds the header)."""
    if options.style == "standalone":
        return render_template("gitlab/standalone.yml.j2", **_standalone_context(pipeline))
    if options.style == "library":
        if options.gitlab_include not in ("component", "template"):
            raise LeptonError(
                f"unknown GitLab include kind {options.gitlab_include!r}",
                hint="set `ci.gitlab_include` to `component` or `template`",
            )
        return render_template("gitlab/library.yml.j2", **_library_context(pipeline, options))
    raise LeptonError(
        f"unknown style {options.style!r}", hint="use `--style library` or `--style standalone`"
    )


# --------------------------------------------------------------------------- shared pieces


@dataclass(frozen=True)
class Variable:
    """A pipeline variable that GitLab must not expand (``expand: false``)."""

    name: str
    value: str


def _setup_lines(pipeline: Pipeline, job: Job) -> list[str]:
    """The job's ``before_script``: its own install (the extras its step needs), then PATH."""
    lines = [shell_line(c) for c in pipeline.setup(job)]
    if lines and pipeline.install.path_entry:
        lines.append(PATH_EXPORT.format(venv=pipeline.install.path_entry))
    return lines


def _caches(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Each job's ``cache:``: pip's cache of its install, kept between jobs and pipelines, with
    a new key when the requirement files change (``cache:key:files`` takes at most two files).
    The first job of each install uploads it; the others only pull (``policy: pull``). Only
    wheels are cached, not the venv: a venv breaks when restored into another build directory
    (its scripts name their interpreter)."""
    install = pipeline.install
    if not install.enabled:
        return {}
    out: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for job in pipeline.jobs:
        name = install.cache_name(job)
        key: str | dict[str, Any] = name
        if install.cache_files:
            key = {"files": list(install.cache_files), "prefix": name}
        cache: dict[str, Any] = {"key": key, "paths": [install.cache_dir + "/"]}
        if name in seen:
            cache["policy"] = "pull"
        seen.add(name)
        out[job.name] = cache
    return out


def _setup_variables(pipeline: Pipeline) -> dict[str, str]:
    if not pipeline.install.enabled:
        return {}
    return {"PIP_CACHE_DIR": PIP_CACHE_VARIABLE.format(cache_dir=pipeline.install.cache_dir)}


class _Tags:
    """Runner tags; a tag containing ``$`` goes through a raw variable (GitLab expands tags)."""

    def __init__(self) -> None:
        self.variables: list[Variable] = []

    def render(self, tags: tuple[str, ...]) -> list[str]:
        out = []
        for tag in tags:
            if "$" in tag:
                existing = [v.name for v in self.variables if v.value == tag]
                name = existing[0] if existing else f"LEPTON_RUNNER_TAG_{len(self.variables)}"
                if not existing:
                    self.variables.append(Variable(name, tag))
                out.append("$" + name)
            else:
                out.append(tag)
        return out


def _if_branch(branch: str) -> str:
    return f"$CI_COMMIT_BRANCH == {gitlab_expr_str(branch)}"


def release_tag_regex(glob: str) -> str:
    """The anchored regex of a release-tag glob, checked safe to write between ``/.../``."""
    regex = tag_regex(glob)
    if not SAFE_TAG_REGEX.fullmatch(regex):
        raise LeptonError(
            f"release tag pattern {glob!r} cannot be written as a GitLab regex ({regex!r})",
            hint="use letters, digits, '.', '_', '-' and '*' in `project.release_tags`",
        )
    return regex


def _if_release_tag(glob: str) -> str:
    return f"$CI_COMMIT_TAG =~ /{release_tag_regex(glob)}/"


def _release_tags(pipeline: Pipeline) -> list[str]:
    """The distinct release-tag globs of the pipeline's jobs, in job order."""
    return list(dict.fromkeys(j.rule.tags for j in pipeline.jobs if j.rule.tags is not None))


def kill_switch_condition(job: Job) -> str:
    """``rules:if`` that is true when any switch of ``job.disabled_by`` is on (true/1/yes)."""
    return " || ".join(f"${s} =~ {SWITCH_ON_REGEX}" for s in job.disabled_by)


def _rules(job: Job, pipeline: Pipeline) -> list[dict[str, Any]]:
    """GitLab ``rules:`` for a job: kill switches first, then where it runs."""
    rule: Rule = job.rule
    rules: list[dict[str, Any]] = [{"if": kill_switch_condition(job), "when": "never"}]
    positive: list[str] = []
    if rule.schedule and rule.branches is None:
        positive.append('$CI_PIPELINE_SOURCE == "schedule"')
    elif rule.schedule:  # a schedule on another branch must never register or deploy
        positive.append(f'$CI_PIPELINE_SOURCE == "schedule" && {_if_branch(rule.schedule_branch)}')
    if rule.merge_requests:
        positive.append('$CI_PIPELINE_SOURCE == "merge_request_event"')
    if rule.branches is None:
        positive.append("$CI_COMMIT_BRANCH")
    else:
        positive += [_if_branch(b) for b in rule.branches]
    if rule.tags is not None:
        positive.append(_if_release_tag(rule.tags))
    when = "manual" if job.approval else ("always" if rule.always else None)
    for expr in positive:
        entry: dict[str, Any] = {"if": expr}
        if when:
            entry["when"] = when
        rules.append(entry)
    return rules


def _needs(job: Job) -> list[dict[str, Any]]:
    needs = [{"job": name, "artifacts": True} for name in job.needs]
    return needs + [{"job": name, "artifacts": True, "optional": True} for name in job.after]


def _artifacts(job: Job) -> dict[str, Any] | None:
    paths = list(job.artifacts) + ([job.reports.html] if job.reports.html else [])
    reports: dict[str, Any] = {}
    if job.reports.junit:
        reports["junit"] = job.reports.junit
    if job.reports.dotenv:
        reports["dotenv"] = job.reports.dotenv
    if job.reports.metrics:
        reports["metrics"] = job.reports.metrics
    if not paths and not reports:
        return None
    out: dict[str, Any] = {}
    if job.reports.html:
        out["expose_as"] = REPORT_NAME  # one file: the MR link opens it
    if paths:
        out["paths"] = paths
    if reports:
        out["reports"] = reports
    out["expire_in"] = "30 days"
    if job.reports.junit:
        out["when"] = "always"  # the JUnit report of a failed gate is the point
    return out


def _environment(job: Job) -> dict[str, Any] | None:
    env = job.environment
    if env is None:
        return None
    # Without a fixed URL, `lepton-ci deploy` hands one over in its dotenv report.
    return {"name": env.name, "deployment_tier": env.tier, "url": env.url or DEPLOY_URL}


def _timeout(minutes: int | None) -> str | None:
    return f"{minutes} minutes" if minutes else None


def _agent_overrides(agent: Agent, default: Agent, tags: _Tags) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if agent.tags != default.tags:
        out["tags"] = tags.render(agent.tags)
    if agent.image != default.image and agent.image:
        out["image"] = agent.image
    return out


def _variables(pipeline: Pipeline, tags: _Tags) -> list[Variable]:
    return [Variable(k, v) for k, v in pipeline.variables] + tags.variables


def _workflow_rules(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Merge-request pipelines, or branch pipelines when no MR is open: never both; and
    pipelines of release tags (no pipeline at all for other tags)."""
    return [
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
        {
            "if": '$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS && $CI_PIPELINE_SOURCE == "push"',
            "when": "never",
        },
        {"if": "$CI_COMMIT_BRANCH"},
        *({"if": _if_release_tag(glob)} for glob in _release_tags(pipeline)),
    ]


def _default(pipeline: Pipeline, tags: _Tags) -> dict[str, Any]:
    return {
        "tags": tags.render(pipeline.agent.tags),
        "image": pipeline.agent.image,
        "timeout": _timeout(pipeline.timeout_minutes),
    }


# --------------------------------------------------------------------------- standalone


def _standalone_context(pipeline: Pipeline) -> dict[str, Any]:
    tags = _Tags()
    default = _default(pipeline, tags)
    caches = _caches(pipeline)
    jobs = []
    for job in pipeline.jobs:
        jobs.append(
            {
                "name": job.name,
                "title": job.title,
                "stage": job.name,
                "needs": _needs(job),
                "before_script": _setup_lines(pipeline, job),
                "cache": caches.get(job.name),
                "script": [shell_line(c) for c in job.commands],
                "artifacts": _artifacts(job),
                "environment": _environment(job),
                "resource_group": job.resource_group,
                "rules": _rules(job, pipeline),
                "manual": job.approval is not None,
                "approval": job.approval.message if job.approval else None,
                "interruptible": job.interruptible,
                "timeout": _timeout(job.timeout_minutes),
                "agent": _agent_overrides(job.agent, pipeline.agent, tags),
                "credentials": [v for c in job.credentials for v in c.variables],
            }
        )
    return {
        "pipeline": pipeline,
        "stages": list(pipeline.stages),
        "workflow_rules": _workflow_rules(pipeline),
        "retry": {"max": pipeline.retry, "when": list(RETRY_WHEN)},
        "default": default,
        "variables": _variables(pipeline, tags),
        "base_job": BASE_JOB,
        "setup_variables": _setup_variables(pipeline),
        "jobs": jobs,
    }


# --------------------------------------------------------------------------- library


def template_commands(job: Job, pipeline: Pipeline) -> tuple[Command, ...]:
    """What our component/include template runs for ``job`` when given this pipeline's inputs.

    The library file overrides ``script:`` only where the spec asks for more (promotion of
    the champion, which the templates leave to the spec), so the commands always equal the
    model's. The templates are generated from the same step table (``pipeline/steps.py``).
    """
    fill = {
        "{junit}": job.reports.junit or "",
        "{env}": job.environment.name if job.environment else "",
    }
    words = tuple(fill.get(word, word) for word in step_row(job.step).words)
    return (("lepton-ci", *words, *pipeline.spec_args),)


def _spec_args_input(pipeline: Pipeline) -> str:
    args = pipeline.spec_args
    return " " + shell_line(args) if args else ""


def _library_context(pipeline: Pipeline, options: RenderOptions) -> dict[str, Any]:
    tags = _Tags()
    default = _default(pipeline, tags)
    version = options.library_version
    common: dict[str, Any] = {}
    if _spec_args_input(pipeline):
        common["spec_args"] = _spec_args_input(pipeline)
    if pipeline.retry != 1:
        common["retry"] = pipeline.retry
    branch_input = {"default_branch": pipeline.default_branch}
    if pipeline.default_branch == "main":
        branch_input = {}
    # Our templates' rules take one release-tag regex (jobs without release tags: one that
    # matches no tag).
    globs = _release_tags(pipeline)
    if len(globs) > 1:
        raise LeptonError(
            f"jobs disagree on release tags ({', '.join(globs)})",
            hint="library style takes one `project.release_tags`; use --style standalone",
        )
    regex = release_tag_regex(globs[0]) if globs else NO_TAG_REGEX

    def tag_input(job: Job | None) -> dict[str, str]:
        wanted = regex if job is None or job.rule.tags is not None else NO_TAG_REGEX
        return {} if wanted == DEFAULT_TAG_REGEX else {"release_tags": wanted}

    caches = _caches(pipeline)
    includes: list[dict[str, Any]] = []
    if options.gitlab_include == "template":
        includes.append(
            {
                "project": options.gitlab_project,
                "ref": f"v{version}",
                "file": INCLUDE_TEMPLATE,
                "inputs": {**common, **branch_input, **tag_input(None)},
            }
        )
    jobs = []
    for job in pipeline.jobs:
        overrides: dict[str, Any] = {}
        if options.gitlab_include == "component":
            inputs = dict(common)
            if job.rule.branches is not None:
                inputs.update(branch_input)
            inputs.update(tag_input(job))
            if job.step == "deploy":
                env = _environment(job)
                assert env is not None
                inputs.update(
                    job_name=job.name,
                    stage=job.name,
                    environment=env["name"],
                    tier=env["deployment_tier"],
                    when="manual" if job.approval else "on_success",
                    resource_group=job.resource_group,
                    needs=_needs(job),
                )
                if env["url"] != DEPLOY_URL:
                    inputs["url"] = env["url"]
            elif job.step == "register":
                inputs["resource_group"] = job.resource_group
            includes.append(
                {
                    "component": f"$CI_SERVER_FQDN/{options.gitlab_project}/{job.step}@{version}",
                    "inputs": inputs,
                }
            )
        else:
            overrides["extends"] = job.hidden_name
            if job.step == "deploy":
                overrides.update(
                    stage=job.name,
                    environment=_environment(job),
                    artifacts=_artifacts(job),
                    needs=_needs(job),
                    resource_group=job.resource_group,
                    rules=_rules(job, pipeline),
                )
                if job.approval:
                    overrides["allow_failure"] = False
            elif job.resource_group:
                overrides["resource_group"] = job.resource_group
        # Setup goes into lepton's own jobs, never into `default:`, which every other job of
        # the pipeline (SAST, the user's own) would inherit.
        setup = _setup_lines(pipeline, job)
        if setup:
            overrides["before_script"] = setup
            overrides["variables"] = _setup_variables(pipeline)
            overrides["cache"] = caches[job.name]
        classic_deploy = options.gitlab_include == "template" and job.step == "deploy"
        if classic_deploy or job.commands != template_commands(job, pipeline):
            overrides["script"] = [shell_line(c) for c in job.commands]
        if job.timeout_minutes:
            overrides["timeout"] = _timeout(job.timeout_minutes)
        overrides.update(_agent_overrides(job.agent, pipeline.agent, tags))
        if overrides:
            jobs.append({"name": job.name, "keys": overrides})
    return {
        "pipeline": pipeline,
        "kind": options.gitlab_include,
        "stages": list(pipeline.stages),
        "workflow_rules": _workflow_rules(pipeline),
        "includes": includes,
        "default": default,
        "variables": _variables(pipeline, tags),
        "jobs": jobs,
    }
