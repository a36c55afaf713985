"""The lifecycle as one table: one row per step kind, in pipeline order.

``build_pipeline`` turns each row into a job (a ``per_environment`` row into one job per
environment), and ``python -m lepton_ci.pipeline.codegen`` writes the shared library's
constants (``jenkins/src/io/leptonci/LeptonSteps.groovy``) from it. A new step is a new row.

Paths are keys of :data:`PATHS` (the keys of the Jenkins library's ``layout.properties``);
``{junit}`` and ``{env}`` in argv words, titles and resource groups are filled per job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from lepton_ci.layout import RunLayout

RuleKind = Literal["everywhere", "mainline", "always"]
"""``everywhere``: any branch, merge requests, the schedule and release tags; ``mainline``:
the default branch, the schedule and release tags only; ``always``: like ``everywhere``, and
even after an earlier job failed (reporting)."""

CredentialKind = Literal["registry", "pushgateway", "kubeconfig"]
CredentialUse = Literal["none", "registry", "pushgateway", "by_target"]
"""Which credential a step binds; ``by_target``: a deploy's, picked by its environment's target
(:data:`TARGET_CREDENTIALS`)."""

RegistryUse = Literal["none", "always", "relative_gates"]
"""Whether a step opens the model registry (``relative_gates``: only to compare with the
champion): with an MLflow registry, such a job needs the ``mlflow`` extra."""

TimeoutSource = Literal["train", "evaluate"]
"""The spec section whose ``timeout_minutes`` bounds the step."""


@dataclass(frozen=True)
class StepRow:
    """One step kind of the lifecycle, everything its jobs have in common."""

    step: str
    title: str  # display name (Jenkins stage); ``{env}``: the environment's name
    summary: str  # what it does, one sentence (the GitLab component's header)
    words: tuple[str, ...]  # argv after ``lepton-ci`` (``--spec PATH`` is appended)
    needs: tuple[str, ...] = ()  # steps whose artifacts it needs
    after: tuple[str, ...] = ()  # steps it waits for where they run (no kill-switch cascade)
    artifacts: tuple[str, ...] = ()  # PATHS keys it hands on
    junit: str | None = None  # PATHS key of its JUnit report
    dotenv: str | None = None  # PATHS key of its dotenv report
    html: str | None = None  # PATHS key of its self-contained HTML page (a GitLab artifact)
    page: str | None = None  # PATHS key of that page with its images as files (Jenkins' CSP)
    metrics: str | None = None  # PATHS key of its GitLab metrics report
    build_summary: str | None = None  # PATHS key of its one-line summary (Jenkins description)
    rule: RuleKind = "everywhere"
    credentials: CredentialUse = "none"
    extras: tuple[str, ...] = ()  # pip extras of lepton-ci it imports
    registry: RegistryUse = "none"
    metric_sinks: bool = False  # pushes to the spec's metric sinks (an MLflow sink: mlflow)
    user_code: bool = False  # runs the repository's code: its own requirements are installed
    resource_group: str | None = None  # ``{model}``, ``{env}`` filled per job
    interruptible: bool = True
    timeout: TimeoutSource | None = None
    per_environment: bool = False  # one job per deploy environment, in spec order

    @property
    def kill_switch(self) -> str:
        """Variable that disables this step when on (``LEPTON_TRAIN_DISABLED``...)."""
        return kill_switch(self.step)


def kill_switch(step: str) -> str:
    return "LEPTON_" + step.upper().replace("-", "_") + "_DISABLED"


STEP_TABLE: tuple[StepRow, ...] = (
    StepRow(
        step="train",
        title="Train",
        summary="Train the model (`lepton-ci train`) and hand `.lepton/run/train` on.",
        words=("train",),
        artifacts=("train",),
        extras=("train",),
        user_code=True,
        timeout="train",
    ),
    StepRow(
        step="evaluate",
        title="Evaluate",
        summary="Evaluate the model, apply the quality gates and publish them as a JUnit report.",
        words=("evaluate", "--junit", "{junit}"),
        needs=("train",),
        artifacts=("evaluate",),
        junit="junit",
        extras=("train",),  # runtime.evaluate: numpy at import, torch to load the model
        user_code=True,
        registry="relative_gates",
        timeout="evaluate",
    ),
    StepRow(
        step="register",
        title="Register model",
        summary=(
            "Register the evaluated model in the model registry (dotenv: LEPTON_MODEL_NAME, "
            "LEPTON_MODEL_VERSION)."
        ),
        words=("models", "register"),
        needs=("train", "evaluate"),
        artifacts=("register",),
        dotenv="modelEnv",
        rule="mainline",
        registry="always",
        resource_group="lepton-registry-{model}",
    ),
    StepRow(
        step="image-build",
        title="Build image",
        summary="Build the model image (`lepton-ci image build`).",
        words=("image", "build"),
        needs=("train", "register"),
        artifacts=("imageBuildEnv",),
        rule="mainline",
        credentials="registry",
        extras=("docker",),
    ),
    StepRow(
        step="image-push",
        title="Push image",
        summary=(
            "Push the model image; its digest goes to later jobs as a dotenv report "
            "(LEPTON_IMAGE, LEPTON_IMAGE_DIGEST)."
        ),
        words=("image", "push"),
        needs=("register", "image-build"),
        artifacts=("imageEnv",),
        dotenv="imageEnv",
        rule="mainline",
        credentials="registry",
        extras=("docker",),
        registry="always",  # records the digest on the model version
    ),
    StepRow(
        step="deploy",
        title="Deploy {env}",
        summary="Deploy the pushed image to one environment; include once per environment.",
        words=("deploy", "--env", "{env}"),
        needs=("register", "image-push"),  # and the previous environment's deploy
        artifacts=("deploy",),
        dotenv="deployEnv",
        rule="mainline",
        credentials="by_target",
        registry="always",  # resolves the version, records the deployment
        resource_group="lepton-deploy-{model}-{env}",
        interruptible=False,
        per_environment=True,
    ),
    StepRow(
        step="metrics-push",
        title="Push metrics",
        summary="Push training and evaluation metrics, even after a failed gate.",
        words=("metrics", "push"),
        needs=("train", "evaluate"),
        after=("register",),  # metrics carry the registered version where register runs
        rule="always",
        credentials="pushgateway",
        extras=("metrics",),
        registry="always",
        metric_sinks=True,
        interruptible=False,
    ),
    StepRow(
        step="report",
        title="Report",
        summary=(
            "Write the HTML evaluation report and publish it (on a merge request: the one note), "
            "even after a failed gate."
        ),
        words=("report", "--publish"),
        needs=("train", "evaluate"),
        after=("register",),  # the report names the registered version where register runs
        html="reportHtml",
        page="reportPage",
        metrics="reportMetrics",
        build_summary="reportSummary",
        rule="always",
        extras=("report",),
    ),
)
"""The lifecycle in pipeline order (docs/architecture.md tabulates it)."""

REPORT_NAME = "lepton-ci report"
"""The name a job's HTML page is shown under: the merge request's link to it (GitLab
``artifacts:expose_as``), the build's report link (Jenkins ``publishHTML`` ``reportName``)."""

PROMOTE_WORDS = ("models", "promote", "--to", "champion")
"""Appended to the champion environment's deploy (else to register): promote what it shipped."""

IMAGELESS_TARGETS = ("local",)
"""Deploy targets that run the model from the run directory: their deploy needs no image."""

USER_CODE_TARGETS = ("local",)
"""Deploy targets whose job runs the repository's code itself (serves the model in-process), so
its setup installs the repository's requirements too."""

TARGET_EXTRAS: dict[str, tuple[str, ...]] = {
    "local": ("serve",),  # deploy.local spawns `lepton-ci serve` (torch, starlette, uvicorn)
    "docker": ("docker",),
    "kubernetes": ("kubernetes",),
}
"""The extras a deploy needs on top of its row's, by environment target."""

TARGET_CREDENTIALS: dict[str, CredentialKind | None] = {
    "local": None,
    "docker": "registry",
    "kubernetes": "kubeconfig",
}

CREDENTIAL_VARIABLES: dict[CredentialKind, tuple[str, ...]] = {
    "registry": ("LEPTON_REGISTRY_USER", "LEPTON_REGISTRY_PASSWORD"),
    "pushgateway": ("LEPTON_PUSHGATEWAY_USER", "LEPTON_PUSHGATEWAY_PASSWORD"),
    "kubeconfig": ("KUBECONFIG",),
}
"""The environment variables each credential is bound to (user/password, or the file path)."""

CREDENTIAL_TYPES: dict[CredentialKind, Literal["username_password", "file"]] = {
    "registry": "username_password",
    "pushgateway": "username_password",
    "kubeconfig": "file",
}

PATHS: dict[str, Callable[[RunLayout, str], PurePosixPath]] = {
    "train": lambda layout, env: layout.train_dir,
    "evaluate": lambda layout, env: layout.evaluate_dir,
    "junit": lambda layout, env: layout.junit,
    "register": lambda layout, env: layout.register_dir,
    "modelEnv": lambda layout, env: layout.model_env,
    "imageBuildEnv": lambda layout, env: layout.image_build_env,
    "imageEnv": lambda layout, env: layout.image_env,
    "deploy": lambda layout, env: layout.deploy_dir,
    "deployEnv": lambda layout, env: layout.deploy_env(env),
    "report": lambda layout, env: layout.report_dir,
    "reportHtml": lambda layout, env: layout.report_html,
    "reportPage": lambda layout, env: layout.report_page,
    "reportMetrics": lambda layout, env: layout.report_metrics,
    "reportSummary": lambda layout, env: layout.report_summary,
}
"""Where each path key lives in the run directory (``env``: the job's environment, or '')."""


def steps(table: tuple[StepRow, ...] = STEP_TABLE) -> tuple[str, ...]:
    """The step kinds of ``table``, in order."""
    return tuple(row.step for row in table)


def row(step: str, table: tuple[StepRow, ...] = STEP_TABLE) -> StepRow:
    for candidate in table:
        if candidate.step == step:
            return candidate
    raise KeyError(step)


def disabled_by(step: str, table: tuple[StepRow, ...] = STEP_TABLE) -> tuple[str, ...]:
    """Kill switches of a step kind: its own, then those of every step it needs (transitively),
    in table order (``Job.disabled_by`` for the jobs of one step kind)."""
    by_step = {r.step: r for r in table}
    seen: set[str] = set()
    todo = list(by_step[step].needs)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(by_step[name].needs)
    seen.discard(step)
    return (kill_switch(step), *(kill_switch(s) for s in steps(table) if s in seen))
