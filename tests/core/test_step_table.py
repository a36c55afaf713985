"""The lifecycle is one table (``lepton_ci/pipeline/steps.py``): a row is a step everywhere.

A row added to the table becomes a job with its command, needs, rule, kill switches and
hand-offs, with no other change; and every job says which extras of lepton-ci it imports.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from lepton_ci.pipeline import build_pipeline
from lepton_ci.pipeline.build import STEPS
from lepton_ci.pipeline.steps import STEP_TABLE, StepRow, disabled_by, row, steps
from lepton_ci.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
project: {name: demo}
train: {command: python train.py}
evaluate: {command: python evaluate.py}
deploy:
  environments:
    - {name: dev, target: local}
    - {name: staging, target: docker}
    - {name: production, target: kubernetes, approval: true}
"""

MLFLOW = """
registry: {backend: mlflow, tracking_uri: "http://mlflow:5000"}
gates: ["accuracy >= champion - 0.01"]
metrics:
  sinks: [{type: mlflow, tracking_uri: "http://mlflow:5000"}]
"""

VALIDATE = StepRow(
    step="validate-data",
    title="Validate data",
    summary="Check the training data.",
    words=("data", "validate"),
    artifacts=("evaluate",),
    extras=("train",),
)


def with_validate_data() -> tuple[StepRow, ...]:
    """The table with a `validate-data` step after train, which evaluate then needs."""
    train, evaluate, *rest = STEP_TABLE
    evaluate = replace(evaluate, needs=(*evaluate.needs, "validate-data"))
    return (train, VALIDATE, evaluate, *rest)


def test_steps_are_the_rows_of_the_table() -> None:
    assert STEPS == steps() == tuple(r.step for r in STEP_TABLE)
    assert len(set(STEPS)) == len(STEPS)


def test_a_row_added_to_the_table_is_a_job_of_the_pipeline() -> None:
    pipeline = build_pipeline(parse_spec(SPEC), table=with_validate_data())

    assert pipeline.stages[:3] == ("train", "validate-data", "evaluate")
    job = pipeline.job("validate-data")
    assert job.title == "Validate data"
    assert job.commands == (("lepton-ci", "data", "validate"),)
    assert job.artifacts == (".lepton/run/evaluate",)
    assert job.rule == pipeline.job("train").rule  # everywhere
    assert job.kill_switch == "LEPTON_VALIDATE_DATA_DISABLED"
    assert job.extras == ("train",)
    evaluate = pipeline.job("evaluate")
    assert evaluate.needs == ("train", "validate-data")
    assert "LEPTON_VALIDATE_DATA_DISABLED" in pipeline.job("register").disabled_by
    assert disabled_by("evaluate", with_validate_data()) == (
        "LEPTON_EVALUATE_DISABLED",
        "LEPTON_TRAIN_DISABLED",
        "LEPTON_VALIDATE_DATA_DISABLED",
    )


def test_a_per_environment_row_is_one_job_per_environment_each_needing_the_previous() -> None:
    pipeline = build_pipeline(parse_spec(SPEC))
    deploys = [job for job in pipeline.jobs if job.step == "deploy"]
    assert [job.name for job in deploys] == ["deploy-dev", "deploy-staging", "deploy-production"]
    assert [job.title for job in deploys] == ["Deploy dev", "Deploy staging", "Deploy production"]
    assert [job.needs for job in deploys] == [
        ("register",),  # a local target runs the model from the run directory: no image
        ("register", "image-push", "deploy-dev"),
        ("register", "image-push", "deploy-staging"),
    ]
    assert deploys[0].resource_group == "lepton-deploy-demo-dev"
    assert deploys[0].reports.dotenv == ".lepton/run/deploy/dev.env"


def test_a_job_of_a_step_is_disabled_by_what_the_table_says_for_the_step() -> None:
    pipeline = build_pipeline(parse_spec(SPEC))
    for job in pipeline.jobs:
        if job.step != "deploy":  # deploys also need the previous deploy (the same switch)
            assert job.disabled_by == disabled_by(job.step), job.name


def test_each_job_names_the_extras_its_commands_import() -> None:
    pipeline = build_pipeline(parse_spec(SPEC))
    assert {job.name: job.extras for job in pipeline.jobs} == {
        "train": ("train",),
        "evaluate": ("train",),
        "register": (),
        "image-build": ("docker",),
        "image-push": ("docker",),
        "deploy-dev": ("serve",),
        "deploy-staging": ("docker",),
        "deploy-production": ("kubernetes",),
        "metrics-push": ("metrics",),
        "report": ("report",),
    }


def test_jobs_that_open_an_mlflow_registry_or_sink_also_need_mlflow() -> None:
    pipeline = build_pipeline(parse_spec(SPEC + MLFLOW))
    assert {job.name: job.extras for job in pipeline.jobs} == {
        "train": ("train",),
        "evaluate": ("train", "mlflow"),  # a gate relative to the champion reads the registry
        "register": ("mlflow",),
        "image-build": ("docker",),
        "image-push": ("docker", "mlflow"),  # records the digest on the version
        "deploy-dev": ("serve", "mlflow"),
        "deploy-staging": ("docker", "mlflow"),
        "deploy-production": ("kubernetes", "mlflow"),
        "metrics-push": ("metrics", "mlflow"),
        "report": ("report",),  # reads the run directory only
    }


def test_evaluate_without_relative_gates_does_not_open_the_registry() -> None:
    spec = SPEC + 'registry: {backend: mlflow, tracking_uri: "http://mlflow:5000"}\n'
    assert build_pipeline(parse_spec(spec)).job("evaluate").extras == ("train",)


@pytest.mark.parametrize("step", STEPS)
def test_every_extra_a_step_names_is_an_extra_of_the_package(step: str) -> None:
    from lepton_ci.pipeline.steps import TARGET_EXTRAS

    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]")[1].split("\n[")[0]
    declared = set(re.findall(r"^([a-z]+) = ", section, re.MULTILINE))
    named = set(row(step).extras) | {e for extras in TARGET_EXTRAS.values() for e in extras}
    assert named | {"mlflow"} <= declared


def generated_paths() -> list[str]:
    from lepton_ci.pipeline.codegen import generated

    return sorted(generated())


def test_every_lifecycle_file_of_the_libraries_is_generated() -> None:
    paths = generated_paths()
    assert "jenkins/src/io/leptonci/LeptonSteps.groovy" in paths
    assert "gitlab/include/lepton.gitlab-ci.yml" in paths
    assert {f"gitlab/templates/{p.name}" for p in (ROOT / "gitlab/templates").glob("*.yml")} <= set(
        paths
    )


@pytest.mark.parametrize("path", generated_paths())
def test_the_libraries_lifecycle_files_are_generated_from_the_table(path: str) -> None:
    from lepton_ci.pipeline.codegen import generated

    committed = (ROOT / path).read_text(encoding="utf-8")
    assert committed == generated()[path], (
        f"{path} is stale: python -m lepton_ci.pipeline.codegen (from the repository root)"
    )


def test_a_new_row_shows_in_the_generated_groovy() -> None:
    from lepton_ci.pipeline.codegen import groovy_constants

    text = groovy_constants(with_validate_data())
    assert "'validate-data': 'Validate data'," in text
    assert "'validate-data': ['data', 'validate']," in text
    assert "evaluate: ['train', 'validate-data']," in text


def test_the_declarative_stage_names_of_leptonpipeline_are_the_table_titles() -> None:
    """Declarative `stage('...')` names must be literals, so the var cannot read the constants;
    they are pinned to the table here instead (per-environment stages are named at run time)."""
    var = (ROOT / "jenkins" / "vars" / "leptonPipeline.groovy").read_text(encoding="utf-8")
    literal = re.findall(r"^ {12}stage\('([^']+)'\)", var, re.MULTILINE)
    assert literal == [r.title.replace(" {env}", "") for r in STEP_TABLE]


def test_a_new_row_is_a_hidden_job_of_the_gitlab_include_template() -> None:
    from lepton_ci.pipeline.gitlab_include import gitlab_include

    text = gitlab_include(with_validate_data())
    assert ".lepton-validate-data:\n  extends: .lepton-defaults\n  stage: validate-data\n" in text
    assert "  needs: [{job: train, artifacts: true}, {job: validate-data, artifacts: true}]" in text
    assert "$LEPTON_VALIDATE_DATA_DISABLED =~" in text.split(".lepton-register:")[1]


def test_a_new_row_is_a_gitlab_component() -> None:
    from lepton_ci.pipeline.gitlab_include import gitlab_components

    component = gitlab_components(with_validate_data())["gitlab/templates/validate-data.yml"]
    assert component.startswith("# lepton-ci CI/CD component `validate-data`: Check the")
    assert "    - lepton-ci data validate$[[ inputs.spec_args ]]\n" in component


def test_the_spec_takes_an_agent_for_each_step_of_the_table() -> None:
    from lepton_ci.spec.model import AgentsSpec

    keys = {info.alias or name for name, info in AgentsSpec.model_fields.items()}
    assert keys == {"default", *STEPS}
