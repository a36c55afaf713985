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
    ``schedule``: scheduled (retraining) pipelines, which run on the default branch.
    ``tags``: tag pipelines whose tag matches this glob (release tags, e.g. ``v*``); ``None``:
    no tag pipelines.
    ``always``: run even when an earlier job failed (reporting jobs).
    """

    branches: tuple[str, ...] | None = None
    merge_requests: bool = True
    schedule: bool = True
    tags: str | None = None
    always: bool = False

    def applies(self, trigger: Trigger, ref: str | None) -> bool:
        """Whether a pipeline started by ``trigger`` on ``ref`` (branch or tag) runs this job."""
        if trigger == "schedule":
            return self.schedule
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


@dataclass(frozen=True)
class Install:
    """How a job gets lepton-ci: installed into a cached venv, or already on the agent."""

    requirement: str  # e.g. "lepton-ci[train]==0.1.0"
    index_url: str | None
    venv: str
    enabled: bool

    @property
    def commands(self) -> tuple[Command, ...]:
        if not self.enabled:
            return ()
        pip: list[str] = [f"{self.venv}/bin/python", "-m", "pip", "install", "--quiet"]
        if self.index_url:
            pip += ["--extra-index-url", self.index_url]
        return (("python3", "-m", "venv", self.venv), (*pip, self.requirement))

    @property
    def path_entry(self) -> str | None:
        """Directory to prepend to PATH (relative to the workspace)."""
        return f"{self.venv}/bin" if self.enabled else None

    @property
    def cache_key(self) -> str:
        return "lepton-ci-" + "".join(
            c if c.isalnum() or c in ".-_" else "-" for c in self.requirement
        )


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
    step: str  # the step kind: one of lepton_ci.pipeline.build.STEPS
    title: str  # display name (Jenkins stage)
    commands: tuple[Command, ...]
    needs: tuple[str, ...] = ()
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
    disabled_by: tuple[str, ...] = ()
    """Kill switches that skip this job: its own first, then those of every job it needs
    (transitively, in pipeline order); a job whose input was disabled cannot run."""

    @property
    def kill_switch(self) -> str:
        """Variable that disables this step when on (``LEPTON_TRAIN_DISABLED``...)."""
        return "LEPTON_" + self.step.upper().replace("-", "_") + "_DISABLED"

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

    def command_sequence(self) -> list[tuple[str, Command]]:
        """Every (job, command) in order, setup included: what parity tests compare."""
        return [
            (job.name, cmd) for job in self.jobs for cmd in self.install.commands + job.commands
        ]
