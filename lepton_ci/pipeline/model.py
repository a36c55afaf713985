"""Types of the platform-neutral pipeline.

A :class:`Pipeline` is a list of :class:`Job` in execution order. Each job knows the exact
``argv`` lists it runs, what it needs, what it hands on, when it runs and where. Renderers turn
this into Groovy or YAML; ``lepton-ci run`` executes it; neither adds commands of its own.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from lepton_ci.pipeline.steps import kill_switch

Trigger = Literal["push", "merge_request", "schedule", "tag"]
"""What started a pipeline: a commit, a merge request, the retraining schedule, or a git tag."""

Command = tuple[str, ...]
"""One command line as argv; rendered with :func:`shlex.join` and escaped per target."""


def shell_line(command: Command) -> str:
    """The POSIX shell line for ``command`` (every word quoted as needed)."""
    return shlex.join(command)


@dataclass(frozen=True)
class Rule:
    """When a job runs.

    ``branches``: push pipelines on these branches (``None``: any branch).
    ``merge_requests``: merge-request pipelines (GitLab MR, Jenkins change requests).
    ``schedule``: scheduled (retraining) pipelines of ``schedule_branch`` (the default branch).
    A schedule set on another branch runs what a push there runs: jobs of any branch
    (``branches=None``), never those of the default branch only (register, deploy).
    ``tags``: tag pipelines whose tag matches this glob (release tags, e.g. ``v*``); ``None``:
    no tag pipelines.
    ``always``: run even when an earlier job failed (reporting jobs).
    """

    branches: tuple[str, ...] | None = None
    merge_requests: bool = True
    schedule: bool = True
    tags: str | None = None
    always: bool = False
    schedule_branch: str = "main"

    def applies(self, trigger: Trigger, ref: str | None) -> bool:
        """Whether a pipeline started by ``trigger`` on ``ref`` (branch or tag) runs this job."""
        if trigger == "schedule":
            return self.schedule and (self.branches is None or ref == self.schedule_branch)
        if trigger == "merge_request":
            return self.merge_requests
        if trigger == "tag":
            return self.tags is not None and ref is not None and fnmatch.fnmatchcase(ref, self.tags)
        return self.branches is None or ref in self.branches


def tag_regex(glob: str) -> str:
    """A tag glob (``v*``) as an anchored regular expression (``^v.*$``) for GitLab rules."""
    return "^" + "".join(".*" if c == "*" else re.escape(c) for c in glob) + "$"


@dataclass(frozen=True)
class Agent:
    """Where a job runs: Jenkins label, GitLab runner tags, optional container image."""

    label: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None


@dataclass(frozen=True)
class Environment:
    """A deployment environment (GitLab ``environment:``, Jenkins stage + lock)."""

    name: str
    tier: str
    url: str | None = None
    target: str = "docker"


@dataclass(frozen=True)
class Approval:
    """A manual approval before the job (Jenkins ``input``, GitLab ``when: manual``)."""

    message: str
    approvers: tuple[str, ...] = ()
    timeout_hours: int = 168  # how long the approval waits, on its own clock


@dataclass(frozen=True)
class Credential:
    """A credential from the CI's store, exposed to the job only as environment variables.

    ``kind`` ``username_password`` binds ``variables`` = (user var, password var);
    ``file`` binds ``variables`` = (path var,). On GitLab the same variables are expected as
    masked CI/CD variables; nothing secret is ever rendered.
    """

    kind: Literal["username_password", "file"]
    id: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class Reports:
    junit: str | None = None
    dotenv: str | None = None
    html: str | None = None  # a self-contained HTML page (GitLab: the exposed artifact)
    page: str | None = None  # the page with its images as files (Jenkins: publishHTML)
    metrics: str | None = None  # GitLab's metrics report (OpenMetrics text)
    summary: str | None = None  # one line of text for the Jenkins build description


PIP_CACHE_DIR = ".lepton/pip-cache"
"""pip's cache (``PIP_CACHE_DIR``) inside the workspace, where GitLab's ``cache:`` can keep it."""


@dataclass(frozen=True)
class Install:
    """How a job gets lepton-ci and the model repository's own dependencies.

    Each job installs into a fresh venv (``venv``) only what its step needs: lepton-ci with the
    job's extras (:attr:`Job.extras`) and, in jobs that run the repository's code
    (:attr:`Job.user_code`), the repository's requirement files and project. The ``constraints``
    files constrain every job's resolution, so the user's pins (torch above all) win over
    lepton-ci's ranges. Wheels come from pip's cache (``cache_dir``), kept between jobs and
    pipelines. ``enabled`` False: lepton-ci is on the agent already and nothing is installed.
    """

    package: str  # distribution name, e.g. "lepton-ci"
    version: str
    index_url: str | None  # an extra index: pip's default (or $PIP_INDEX_URL) stays in use
    venv: str
    enabled: bool
    extras: tuple[str, ...] = ()  # added to every job's (the spec's `package` extras)
    requirements: tuple[str, ...] = ()  # the repository's requirement files (`-r`)
    constraints: tuple[str, ...] = ()  # pip constraints files (`-c`) for every job
    project: bool = False  # install the repository itself (`-e .`, its pyproject.toml)
    cache_dir: str = PIP_CACHE_DIR

    def requirement(self, extras: tuple[str, ...] = ()) -> str:
        """The pinned requirement with ``extras`` and the spec's: ``lepton-ci[docker]==0.1.0``."""
        wanted = sorted(set(self.extras) | set(extras))
        return self.package + (f"[{','.join(wanted)}]" if wanted else "") + f"=={self.version}"

    def commands(self, job: Job) -> tuple[Command, ...]:
        """The job's setup: a venv, then one ``pip install`` of all it needs (none if disabled)."""
        if not self.enabled:
            return ()
        pip: list[str] = [f"{self.venv}/bin/python", "-m", "pip", "install", "--quiet"]
        if self.index_url:
            pip += ["--extra-index-url", self.index_url]
        for path in self.constraints:
            pip += ["-c", path]
        if job.user_code:
            for path in self.requirements:
                pip += ["-r", path]
            if self.project:
                pip += ["-e", "."]
        return (("python3", "-m", "venv", self.venv), (*pip, self.requirement(job.extras)))

    @property
    def path_entry(self) -> str | None:
        """Directory to prepend to PATH (relative to the workspace)."""
        return f"{self.venv}/bin" if self.enabled else None

    @property
    def cache_files(self) -> tuple[str, ...]:
        """Files whose content keys the pip cache (GitLab takes at most two)."""
        files = tuple(dict.fromkeys((*self.constraints, *self.requirements)))
        if self.project:
            files += ("pyproject.toml",)
        return tuple(dict.fromkeys(files))[:2]

    cache_key: str = "lepton-pip"
    """Prefix of the pip caches' keys (GitLab: of the key derived from ``cache_files``). Wheels
    are tagged by Python version and platform, so a cache serves every image."""

    def cache_name(self, job: Job) -> str:
        """The pip cache of ``job``'s install: one per distinct install, so an image push never
        restores (nor uploads again) the torch wheels of train (``lepton-pip-docker``)."""
        parts = sorted(set(self.extras) | set(job.extras)) or ["base"]
        return "-".join([self.cache_key, *parts, *(["repo"] if job.user_code else [])])


SWITCH_ON_VALUES = ("true", "1", "yes")
"""A kill switch is on only for these values, in any case (GitLab's own templates test
``$SAST_DISABLED == 'true' || $SAST_DISABLED == '1'``). ``false``, ``0``, ``no`` or an empty
value leave the step on: a Jenkins Boolean parameter reaches the build as the string
``"false"`` (hudson.model.BooleanParameterValue#buildEnvironment)."""
SWITCH_ON_REGEX = "/^(true|1|yes)$/i"
"""``SWITCH_ON_VALUES`` as a GitLab ``rules:if`` regex (RE2, ``i`` flag: case-insensitive)."""


def switch_on(value: str | None) -> bool:
    """Whether a kill-switch variable's value turns the switch on."""
    return (value or "").lower() in SWITCH_ON_VALUES


@dataclass(frozen=True)
class Job:
    name: str  # unique id: train, evaluate, register, image-build, image-push, deploy-<env>, ...
    step: str  # the step kind: one of lepton_ci.pipeline.steps.STEP_TABLE's rows
    title: str  # display name (Jenkins stage)
    commands: tuple[Command, ...]
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    """Jobs it waits for, and reads the artifacts of, when they are in the pipeline (GitLab
    ``needs: optional``); unlike ``needs``, their kill switches do not skip this job."""
    artifacts: tuple[str, ...] = ()  # directories this job hands on
    reports: Reports = field(default_factory=Reports)
    rule: Rule = field(default_factory=Rule)
    agent: Agent = field(default_factory=Agent)
    environment: Environment | None = None
    approval: Approval | None = None
    credentials: tuple[Credential, ...] = ()
    resource_group: str | None = None  # serialise jobs touching the same thing
    interruptible: bool = True
    timeout_minutes: int | None = None
    promotes: bool = False  # its commands promote the registered version to champion
    extras: tuple[str, ...] = ()
    """The pip extras of lepton-ci this job's commands import (``train``, ``docker``, ``serve``,
    ``kubernetes``, ``metrics``, ``mlflow``; pyproject.toml): what a per-job install needs."""
    user_code: bool = False
    """The job runs the model repository's code (train, evaluate, a local deploy): its setup
    also installs the repository's own dependencies."""
    disabled_by: tuple[str, ...] = ()
    """Kill switches that skip this job: its own first, then those of every job it needs
    (transitively, in pipeline order); a job whose input was disabled cannot run."""

    @property
    def kill_switch(self) -> str:
        """Variable that disables this step when on (``LEPTON_TRAIN_DISABLED``...)."""
        return kill_switch(self.step)

    def disabled(self, env: Mapping[str, str]) -> str | None:
        """The first of ``disabled_by`` that is on in ``env``, or None: the job may run."""
        return next((s for s in self.disabled_by if switch_on(env.get(s))), None)

    @property
    def hidden_name(self) -> str:
        """The GitLab include template's hidden base job for this step."""
        return ".lepton-" + self.step


@dataclass(frozen=True)
class Schedule:
    cron: str
    branch: str
    timezone: str


@dataclass(frozen=True)
class Pipeline:
    project: str  # free text: escaped wherever rendered
    model: str
    spec_path: str
    lepton_version: str
    install: Install
    jobs: tuple[Job, ...]
    default_branch: str
    run_dir: str
    schedule: Schedule | None
    timeout_minutes: int  # each job's limit unless it has its own; never an approval's wait
    keep_builds: int
    retry: int
    agent: Agent  # default agent
    variables: tuple[tuple[str, str], ...] = ()  # plain (non-secret) variables for every job
    spec_args: tuple[str, ...] = ()  # appended to every lepton-ci command (`--spec PATH`)

    @property
    def stages(self) -> tuple[str, ...]:
        """Stage names in order (one stage per job: GitLab `stages`, Jenkins `stage`)."""
        return tuple(job.name for job in self.jobs)

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    def skip_reason(
        self, job: Job, trigger: Trigger, ref: str | None, env: Mapping[str, str]
    ) -> str | None:
        """Why a pipeline started by ``trigger`` on ``ref`` (branch or tag) with the variables
        ``env`` skips ``job``, or None: it runs. A kill switch of ``disabled_by`` first, then the
        job's rule, then a job it needs that does not run (it would have nothing to read)."""
        if switch := job.disabled(env):
            return f"disabled by {switch}"
        if not job.rule.applies(trigger, ref):
            return f"rules: not on {trigger} pipelines of {ref or '?'}"
        missing = [n for n in job.needs if self.skip_reason(self.job(n), trigger, ref, env)]
        if missing:
            return f"needs {', '.join(missing)}, which does not run"
        return None

    def jobs_run(
        self, trigger: Trigger, ref: str | None, env: Mapping[str, str] | None = None
    ) -> tuple[Job, ...]:
        """The jobs such a pipeline runs, in order: what every platform must agree on."""
        return tuple(j for j in self.jobs if self.skip_reason(j, trigger, ref, env or {}) is None)

    def command_sequence(self) -> list[tuple[str, Command]]:
        """Every (job, command) in order, setup included: what parity tests compare."""
        return [(job.name, cmd) for job in self.jobs for cmd in self.setup(job) + job.commands]

    def setup(self, job: Job) -> tuple[Command, ...]:
        """What ``job`` runs before its commands: its install (none with lepton-ci preinstalled)."""
        return self.install.commands(job)
