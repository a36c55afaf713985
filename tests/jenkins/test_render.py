"""The Jenkinsfile renderer: structure of both styles, straight from the pipeline model."""

from __future__ import annotations

import re

import pytest

from lepton_ci.pipeline.build import STEPS
from lepton_ci.render.jenkins import library_config, render_jenkinsfile
from lepton_ci.render.outputs import RenderOptions
from tests.jenkins.conftest import rendered
from tests.jenkins.extract import LIBRARY_DIR, ROOT


def camel(step: str) -> str:
    return "lepton" + "".join(part.capitalize() for part in step.split("-"))


def test_standalone_has_one_stage_per_job_in_model_order_and_one_per_approval() -> None:
    r = rendered("full", "standalone")
    titles = re.findall(r"^        stage\('([^']*)'\)", r.text, flags=re.M)
    approvals = {"Deploy production": ["Approve production"]}
    assert titles == [
        t for job in r.pipeline.jobs for t in [*approvals.get(job.title, []), job.title]
    ]


def test_every_stage_has_its_own_time_limit_and_the_pipeline_none() -> None:
    r = rendered("full", "standalone")
    head = r.text[: r.text.index("stages {")]
    assert "timeout(" not in head
    limits = re.findall(r"timeout\(time: (\d+), unit: '(\w+)'\)", r.text)
    # train 60, evaluate 15, the approval 7 days, every other stage ci.timeout_minutes
    assert limits == [("60", "MINUTES"), ("15", "MINUTES")] + [("120", "MINUTES")] * 4 + [
        ("168", "HOURS"), ("120", "MINUTES"), ("120", "MINUTES"), ("120", "MINUTES")]  # fmt: skip


def test_standalone_declares_options_and_retraining_trigger() -> None:
    text = rendered("full", "standalone").text
    assert "buildDiscarder(logRotator(numToKeepStr: '30'))" in text
    # builds may overlap: a waiting approval must not hold back later builds (lock + milestone)
    assert "disableConcurrentBuilds(" not in text
    assert "cron(env.BRANCH_NAME == 'main' ? 'TZ=UTC\\n0 3 * * 1' : '')" in text


def test_no_trigger_without_a_schedule() -> None:
    assert "triggers" not in rendered("minimal", "standalone").text


def test_approval_waits_before_the_agent_and_only_where_asked() -> None:
    text = rendered("full", "standalone").text
    production = text[text.index("stage('Approve production')") :]
    staging = text[
        text.index("stage('Deploy staging')") : text.index("stage('Approve production')")
    ]
    assert "input {" in production and "submitter 'alice,ops-team'" in production
    assert "beforeInput true" in production and "beforeAgent true" in production
    assert "input" not in staging


def test_every_string_is_single_quoted_except_the_venv_path() -> None:
    """Groovy interpolates only double-quoted strings: the one there holds no spec value."""
    for case in ("full", "kubernetes", "index"):
        for style in ("standalone", "library"):
            doubles = [
                line.strip() for line in rendered(case, style).text.splitlines() if '"' in line
            ]
            assert all(
                line == "withEnv([\"PATH+LEPTON_VENV=${env.WORKSPACE}/\" + '.lepton/venv/bin']) {"
                for line in doubles
            ), doubles


def test_credentials_are_bound_by_id_only() -> None:
    text = rendered("full", "standalone").text
    flat = " ".join(text.split())
    assert (
        "usernamePassword( credentialsId: 'registry-login', usernameVariable: "
        "'LEPTON_REGISTRY_USER', passwordVariable: 'LEPTON_REGISTRY_PASSWORD' )" in flat
    )
    assert "$LEPTON_REGISTRY_PASSWORD" not in text and "${LEPTON" not in text


def test_agent_image_runs_in_docker_and_skips_the_install() -> None:
    text = rendered("kubernetes", "standalone").text
    assert "image 'bitnami/kubectl:1.30'" in text and "label 'deploy && linux'" in text
    assert "pip install" not in text and "PATH+LEPTON_VENV" not in text
    assert "file(credentialsId: 'kubeconfig-prod', variable: 'KUBECONFIG')" in text


def test_library_style_pins_the_library_and_configures_one_step() -> None:
    r = rendered("full", "library")
    assert "@Library('lepton-ci@v0.1.0') _" in r.text
    assert r.text.count("leptonPipeline(") == 1 and "stage(" not in r.text
    assert "approvers: ['alice', 'ops-team']" in r.text


def test_library_config_is_derived_from_the_model() -> None:
    r = rendered("kubernetes", "library")
    config = library_config(r.pipeline)
    assert config["spec"] == "ml/lepton.yaml" and config["defaultBranch"] == "trunk"
    assert config["install"] is False
    assert config["credentials"] == {"kubeconfig": "kubeconfig-prod"}
    assert [(e["name"], e["promote"], e["approval"]) for e in config["environments"]] == [
        ("staging", True, False),
        ("prod", False, True),
    ]
    assert config["promoteOnRegister"] is False
    assert rendered("index", "library").pipeline.job("register").commands[-1][1:3] == (
        "models",
        "promote",
    )
    assert library_config(rendered("index", "library").pipeline)["promoteOnRegister"] is True


def test_unknown_style_is_refused() -> None:
    r = rendered("minimal", "standalone")
    options = RenderOptions.from_spec(r.spec, "inline")
    with pytest.raises(ValueError, match="allowed: library, standalone"):
        render_jenkinsfile(r.pipeline, options)


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_a_var_a_help_page_and_docs(step: str) -> None:
    """A stage partial (templates/jenkins/stages/) only where the stage differs from the
    generic one (templates/jenkins/_stage.j2)."""
    assert (LIBRARY_DIR / "vars" / f"{camel(step)}.groovy").is_file()
    assert (LIBRARY_DIR / "vars" / f"{camel(step)}.txt").is_file()
    assert camel(step) in (ROOT / "docs/jenkins.md").read_text(encoding="utf-8")
