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

from collections.abc import Callable
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
from lepton_ci.spec.loader import SPEC_FILENAME
from lepton_ci.spec.model import AgentSpec, EnvironmentSpec, Spec

STEPS = (
    "train",
    "evaluate",
    "register",
    "image-build",
    "image-push",
    "deploy",
    "metrics-push",
)
"""Every step kind the pipeline knows. Meta-tests check each has a template, GitLab job,
Groovy var and docs page."""


def build_pipeline(spec: Spec, spec_path: str = SPEC_FILENAME) -> Pipeline:
    layout = RunLayout()
    base = ("lepton-ci",)
    spec_args: tuple[str, ...] = () if spec_path == SPEC_FILENAME else ("--spec", spec_path)

    def cmd(*words: str) -> Command:
        return (*base, *words, *spec_args)

    tags = spec.project.release_tags
    everywhere = Rule(branches=None, merge_requests=True, schedule=True, tags=tags)
    mainline = Rule(
        branches=(spec.project.default_branch,), merge_requests=False, schedule=True, tags=tags
    )

    def agent(stage: str) -> Agent:
        return _agent(spec.agents.for_stage(stage), spec.lepton_ci.agent_image)

    jobs: list[Job] = [
        Job(
            name="train",
            step="train",
            title="Train",
            commands=(cmd("train"),),
            artifacts=(str(layout.train_dir),),
            rule=everywhere,
            agent=agent("train"),
            timeout_minutes=spec.train.timeout_minutes,
        ),
        Job(
            name="evaluate",
            step="evaluate",
            title="Evaluate",
            commands=(cmd("evaluate", "--junit", str(layout.junit)),),
            needs=("train",),
            artifacts=(str(layout.evaluate_dir),),
            reports=Reports(junit=str(layout.junit)),
            rule=everywhere,
            agent=agent("evaluate"),
            timeout_minutes=spec.evaluate.timeout_minutes,
        ),
        Job(
            name="register",
            step="register",
            title="Register model",
            commands=(cmd("models", "register"),),
            needs=("train", "evaluate"),
            artifacts=(str(layout.register_dir),),
            reports=Reports(dotenv=str(layout.model_env)),
            rule=mainline,
            agent=agent("register"),
            resource_group=f"lepton-registry-{spec.model_name}",
        ),
        Job(
            name="image-build",
            step="image-build",
            title="Build image",
            commands=(cmd("image", "build"),),
            needs=("train", "register"),
            artifacts=(str(layout.image_build_env),),
            rule=mainline,
            agent=agent("image-build"),
            credentials=_registry_credentials(spec),
        ),
        Job(
            name="image-push",
            step="image-push",
            title="Push image",
            commands=(cmd("image", "push"),),
            needs=("register", "image-build"),
            artifacts=(str(layout.image_env),),
            reports=Reports(dotenv=str(layout.image_env)),
            rule=mainline,
            agent=agent("image-push"),
            credentials=_registry_credentials(spec),
        ),
    ]
    previous = "image-push"
    champion_env = spec.champion_environment
    for env in spec.deploy.environments:
        job = _deploy_job(spec, env, previous, mainline, agent("deploy"), cmd, layout)
        if env.name == champion_env:
            job = _with_promotion(job, cmd("models", "promote", "--to", "champion"))
        jobs.append(job)
        previous = job.name
    if champion_env is None:
        jobs[2] = _with_promotion(jobs[2], cmd("models", "promote", "--to", "champion"))
    jobs.append(
        Job(
            name="metrics-push",
            step="metrics-push",
            title="Push metrics",
            commands=(cmd("metrics", "push"),),
            needs=("train", "evaluate"),
            rule=Rule(branches=None, merge_requests=True, schedule=True, tags=tags, always=True),
            agent=agent("metrics-push"),
            credentials=_pushgateway_credentials(spec),
            interruptible=False,
        )
    )

    schedule = (
        Schedule(spec.schedule.retrain, spec.project.default_branch, spec.schedule.timezone)
        if spec.schedule.retrain
        else None
    )
    install = Install(
        requirement=f"{spec.lepton_ci.package}=={spec.lepton_ci.version}",
        index_url=spec.lepton_ci.index_url,
        venv=VENV_DIR,
        enabled=spec.lepton_ci.install and spec.lepton_ci.agent_image is None,
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


def _deploy_needs(env: EnvironmentSpec, previous: str) -> tuple[str, ...]:
    """A deploy needs the registered version, the pushed image unless its target runs the
    model from the run directory (``local``), and the previous environment's deploy."""
    image = () if env.target == "local" else ("image-push",)
    return ("register", *image) + ((previous,) if previous != "image-push" else ())


def _deploy_job(
    spec: Spec,
    env: EnvironmentSpec,
    previous: str,
    rule: Rule,
    agent: Agent,
    cmd: Callable[..., Command],
    layout: RunLayout,
) -> Job:
    approval = (
        Approval(
            message=f"Deploy to {env.name}?",
            approvers=tuple(env.approvers),
            timeout_hours=env.approval_timeout_hours,
        )
        if env.approval
        else None
    )
    credentials: tuple[Credential, ...] = ()
    if env.target == "kubernetes" and spec.ci.credentials.kubeconfig:
        credentials = (Credential("file", spec.ci.credentials.kubeconfig, ("KUBECONFIG",)),)
    elif env.target == "docker":
        credentials = _registry_credentials(spec)
    return Job(
        name=f"deploy-{env.name}",
        step="deploy",
        title=f"Deploy {env.name}",
        commands=(cmd("deploy", "--env", env.name),),
        needs=_deploy_needs(env, previous),
        artifacts=(str(layout.deploy_dir),),
        reports=Reports(dotenv=str(layout.deploy_env(env.name))),
        rule=rule,
        agent=agent,
        environment=Environment(env.name, env.effective_tier, env.url, env.target),
        approval=approval,
        credentials=credentials,
        resource_group=f"lepton-deploy-{spec.model_name}-{env.name}",
        interruptible=False,
    )


def _with_promotion(job: Job, promote: Command) -> Job:
    return replace(job, commands=(*job.commands, promote), promotes=True)


def _with_kill_switches(jobs: list[Job]) -> tuple[Job, ...]:
    """Each job with ``disabled_by``: its own switch, then its upstream jobs' in job order."""
    by_name = {job.name: job for job in jobs}
    rank = {job.kill_switch: i for i, job in enumerate(jobs)}

    def upstream(job: Job, seen: set[str]) -> None:
        for name in job.needs:
            need = by_name[name]
            seen.add(need.kill_switch)
            upstream(need, seen)

    out = []
    for job in jobs:
        seen: set[str] = set()
        upstream(job, seen)
        seen.discard(job.kill_switch)
        others = sorted(seen, key=lambda s: rank[s])
        out.append(replace(job, disabled_by=(job.kill_switch, *others)))
    return tuple(out)


def _agent(agent: AgentSpec, agent_image: str | None) -> Agent:
    return Agent(label=agent.label, tags=tuple(agent.tags), image=agent.image or agent_image)


def _registry_credentials(spec: Spec) -> tuple[Credential, ...]:
    cid = spec.ci.credentials.registry
    if not cid:
        return ()
    return (
        Credential("username_password", cid, ("LEPTON_REGISTRY_USER", "LEPTON_REGISTRY_PASSWORD")),
    )


def _pushgateway_credentials(spec: Spec) -> tuple[Credential, ...]:
    cid = spec.ci.credentials.pushgateway
    if not cid:
        return ()
    return (
        Credential(
            "username_password", cid, ("LEPTON_PUSHGATEWAY_USER", "LEPTON_PUSHGATEWAY_PASSWORD")
        ),
    )
