"""Derive the pipeline model from a spec. Pure: no I/O, same spec, same pipeline.

The lifecycle, in order::

    train -> evaluate (JUnit, gates vs champion) -> register -> image-build -> image-push
          -> deploy-<env> (approval first where asked; the champion env promotes)
          -> metrics-push (always, even after a failed gate)

Commit pipelines on any branch and merge requests run train + evaluate + metrics; the default
branch and the scheduled retraining pipeline run the whole path. A scheduled challenger only
reaches register (and so deployment) when its gates, including those relative to the champion,
pass.
"""

from __future__ import annotations

from dataclasses import replace

from lepton_ci.layout import RUN_DIR, VENV_DIR, RunLayout
from lepton_ci.pipeline.model import (
    Agent,
    Approval,
    Command,
    Credential,
    Environment,
    Install,
    Job,
    Pipeline,
    Reports,
    Rule,
    Schedule,
)
from lepton_ci.pipeline.steps import (
    CREDENTIAL_TYPES,
    CREDENTIAL_VARIABLES,
    IMAGELESS_TARGETS,
    PATHS,
    PROMOTE_WORDS,
    STEP_TABLE,
    TARGET_CREDENTIALS,
    TARGET_EXTRAS,
    USER_CODE_TARGETS,
    CredentialKind,
    StepRow,
    steps,
)
from lepton_ci.spec.loader import SPEC_FILENAME
from lepton_ci.spec.model import AgentSpec, EnvironmentSpec, Spec

STEPS = steps(STEP_TABLE)
"""Every step kind the pipeline knows (the rows of ``STEP_TABLE``). Meta-tests check each has a
template, GitLab job, Groovy var and docs page."""


def build_pipeline(
    spec: Spec, spec_path: str = SPEC_FILENAME, table: tuple[StepRow, ...] = STEP_TABLE
) -> Pipeline:
    """The pipeline of ``spec``: one job per row of ``table`` (per environment for a deploy)."""
    spec_args: tuple[str, ...] = () if spec_path == SPEC_FILENAME else ("--spec", spec_path)
    tags = spec.project.release_tags
    default_branch = spec.project.default_branch
    everywhere = Rule(
        branches=None, merge_requests=True, schedule=True, tags=tags, schedule_branch=default_branch
    )
    rules = {
        "everywhere": everywhere,
        "mainline": replace(everywhere, branches=(default_branch,), merge_requests=False),
        "always": replace(everywhere, always=True),
    }
    jobs: list[Job] = []
    for row in table:
        if not row.per_environment:
            jobs.append(_job(spec, row, rules[row.rule], spec_args, None, ()))
            continue
        previous: tuple[str, ...] = ()
        for env in spec.deploy.environments:
            job = _job(spec, row, rules[row.rule], spec_args, env, previous)
            jobs.append(job)
            previous = (job.name,)
    promoter = next(
        (j for j in jobs if j.environment and j.environment.name == spec.champion_environment),
        next((j for j in jobs if j.step == "register"), None),
    )
    if promoter is not None:
        promote = (*_BASE, *PROMOTE_WORDS, *spec_args)
        jobs = [_with_promotion(j, promote) if j is promoter else j for j in jobs]

    schedule = (
        Schedule(spec.schedule.retrain, spec.project.default_branch, spec.schedule.timezone)
        if spec.schedule.retrain
        else None
    )
    name, _, extras = spec.lepton_ci.package.partition("[")
    install = Install(
        package=name,
        version=spec.lepton_ci.version,
        index_url=spec.lepton_ci.index_url,
        venv=VENV_DIR,
        enabled=spec.lepton_ci.install and spec.lepton_ci.agent_image is None,
        extras=tuple(e for e in extras.rstrip("]").split(",") if e),
        requirements=tuple(spec.lepton_ci.requirements),
        constraints=tuple(spec.lepton_ci.constraint_files),
        project=spec.lepton_ci.install_project,
    )
    return Pipeline(
        spec_args=spec_args,
        project=spec.project.name,
        model=spec.model_name,
        spec_path=spec_path,
        lepton_version=spec.lepton_ci.version,
        install=install,
        jobs=_with_kill_switches(jobs),
        default_branch=spec.project.default_branch,
        run_dir=RUN_DIR,
        schedule=schedule,
        timeout_minutes=spec.ci.timeout_minutes,
        keep_builds=spec.ci.keep_builds,
        retry=spec.ci.retry,
        agent=_agent(spec.agents.default, spec.lepton_ci.agent_image),
        variables=(("LEPTON_PROJECT", spec.project.name), ("LEPTON_MODEL", spec.model_name)),
    )


_BASE = ("lepton-ci",)
_LAYOUT = RunLayout()


def _job(
    spec: Spec,
    row: StepRow,
    rule: Rule,
    spec_args: tuple[str, ...],
    env: EnvironmentSpec | None,
    previous: tuple[str, ...],
) -> Job:
    """The job of ``row`` (for ``env`` when the row is per environment)."""
    name = env.name if env else ""

    def fill(text: str) -> str:
        return (
            text.replace("{junit}", str(_LAYOUT.junit))
            .replace("{env}", name)
            .replace("{model}", spec.model_name)
        )

    def path(key: str | None) -> str | None:
        return str(PATHS[key](_LAYOUT, name)) if key else None

    needs = row.needs
    if env is not None and env.target in IMAGELESS_TARGETS:
        needs = tuple(n for n in needs if n != "image-push")
    timeouts = {"train": spec.train.timeout_minutes, "evaluate": spec.evaluate.timeout_minutes}
    return Job(
        name=f"{row.step}-{env.name}" if env else row.step,
        step=row.step,
        title=fill(row.title),
        commands=((*_BASE, *(fill(w) for w in row.words), *spec_args),),
        needs=needs + previous,
        after=row.after,
        artifacts=tuple(str(PATHS[key](_LAYOUT, name)) for key in row.artifacts),
        reports=Reports(
            junit=path(row.junit),
            dotenv=path(row.dotenv),
            html=path(row.html),
            page=path(row.page),
            metrics=path(row.metrics),
            summary=path(row.build_summary),
        ),
        rule=rule,
        agent=_agent(spec.agents.for_stage(row.step), spec.lepton_ci.agent_image),
        environment=(
            Environment(env.name, env.effective_tier, env.url, env.target) if env else None
        ),
        approval=(
            Approval(
                message=f"Deploy to {env.name}?",
                approvers=tuple(env.approvers),
                timeout_hours=env.approval_timeout_hours,
            )
            if env and env.approval
            else None
        ),
        credentials=_credentials(spec, row, env),
        resource_group=fill(row.resource_group) if row.resource_group else None,
        interruptible=row.interruptible,
        timeout_minutes=timeouts[row.timeout] if row.timeout else None,
        extras=job_extras(spec, row, env),
        user_code=row.user_code or (env is not None and env.target in USER_CODE_TARGETS),
    )


def job_extras(spec: Spec, row: StepRow, env: EnvironmentSpec | None = None) -> tuple[str, ...]:
    """The lepton-ci extras a job of ``row`` imports: the row's, its target's, and ``mlflow``
    when it opens an MLflow registry or pushes to an MLflow metric sink."""
    extras = list(row.extras) + list(TARGET_EXTRAS[env.target] if env else ())
    opens_registry = row.registry == "always" or (
        row.registry == "relative_gates" and any(g.relative for g in spec.gates)
    )
    mlflow_sink = row.metric_sinks and any(s.type == "mlflow" for s in spec.metrics.sinks)
    if (opens_registry and spec.registry.backend == "mlflow") or mlflow_sink:
        extras.append("mlflow")
    if spec.registry.signing is not None and (
        row.step == "register" or (env is not None and env.target in IMAGELESS_TARGETS)
    ):
        extras.append("sign")  # register signs, a deploy serving the run directory verifies
    return tuple(dict.fromkeys(extras))


def _credentials(spec: Spec, row: StepRow, env: EnvironmentSpec | None) -> tuple[Credential, ...]:
    kind: CredentialKind | None
    if row.credentials == "by_target":
        kind = TARGET_CREDENTIALS[env.target] if env else None
    else:
        kind = None if row.credentials == "none" else row.credentials
    cid = getattr(spec.ci.credentials, kind) if kind else None
    if not kind or not cid:
        return ()
    return (Credential(CREDENTIAL_TYPES[kind], cid, CREDENTIAL_VARIABLES[kind]),)


def _with_promotion(job: Job, promote: Command) -> Job:
    return replace(job, commands=(*job.commands, promote), promotes=True)


def _with_kill_switches(jobs: list[Job]) -> tuple[Job, ...]:
    """Each job with ``disabled_by``: its own switch, then its upstream jobs' in job order."""
    by_name = {job.name: job for job in jobs}
    rank = {job.kill_switch: i for i, job in enumerate(jobs)}

    def upstream(job: Job) -> set[str]:
        """The kill switches of every job ``job`` needs, directly or not."""
        seen: set[str] = set()
        visited: set[str] = set()
        pending = list(job.needs)
        while pending:
            name = pending.pop()
            if name not in visited:
                visited.add(name)
                seen.add(by_name[name].kill_switch)
                pending += by_name[name].needs
        return seen

    out = []
    for job in jobs:
        seen = upstream(job)
        seen.discard(job.kill_switch)
        others = sorted(seen, key=lambda s: rank[s])
        out.append(replace(job, disabled_by=(job.kill_switch, *others)))
    return tuple(out)


def _agent(agent: AgentSpec, agent_image: str | None) -> Agent:
    return Agent(label=agent.label, tags=tuple(agent.tags), image=agent.image or agent_image)
