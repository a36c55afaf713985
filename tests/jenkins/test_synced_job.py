"""The job `lepton-ci jenkins sync` creates runs the stages the spec says, for both job kinds.

A build receives the job's parameters as environment variables, as strings: an unticked Boolean
is ``"false"`` (BooleanParameterValue.buildEnvironment, jenkins core), so a kill switch must be on
only for true/1/yes. A plain Pipeline job has no BRANCH_NAME (only a multibranch project sets it:
BranchNameContributor.java, jenkinsci/branch-api-plugin) and declarative's ``branch`` condition
reads nothing else but GIT_LOCAL_BRANCH, which the git plugin sets only with its "check out to
matching local branch" extension (BranchConditionalScript.groovy, pipeline-model-definition-plugin);
the sync gives such a job a BRANCH_NAME parameter defaulting to the default branch.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lepton_ci.platforms.jenkins_job import job_settings, render_job_xml
from tests.jenkins.conftest import STYLES, rendered

REPO_URL = "https://git.example.com/ml/digits.git"


def parameter_defaults(config_xml: str) -> dict[str, str]:
    """What a build started with the defaults gets: each parameter's name and default."""
    root = ET.fromstring(config_xml)
    return {
        p.findtext("name", ""): p.findtext("defaultValue", "")
        for p in root.iter()
        if p.tag.startswith("hudson.model.") and p.tag.endswith("ParameterDefinition")
    }


def stages_run(style: str, kind: str, trigger: str, **env: str) -> set[str]:
    case = rendered("full", style)
    xml = render_job_xml(job_settings(case.pipeline, repo_url=REPO_URL, kind=kind))  # type: ignore[arg-type]
    params = parameter_defaults(xml) | env
    events = case.evaluate("main", trigger, job_kind=kind, **params).events
    return {e["job"] for e in events if e["kind"] == "sh"}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("trigger", ["push", "schedule"])
def test_a_synced_pipeline_job_runs_what_a_multibranch_build_of_the_default_branch_runs(
    style: str, trigger: str, groovy_runtime: None
) -> None:
    multibranch = rendered("full", style).evaluate("main", trigger).events
    expected = {e["job"] for e in multibranch if e["kind"] == "sh"}
    assert {"register", "deploy-production"} <= expected
    assert stages_run(style, "pipeline", trigger) == expected


@pytest.mark.parametrize("style", STYLES)
def test_a_ticked_kill_switch_parameter_skips_its_step_and_what_needs_it(
    style: str, groovy_runtime: None
) -> None:
    ran = stages_run(style, "pipeline", "push", LEPTON_IMAGE_BUILD_DISABLED="true")
    assert "image-build" not in ran and "image-push" not in ran and "register" in ran


def test_only_a_plain_pipeline_job_gets_the_branch_parameter() -> None:
    case = rendered("full", "standalone")
    plain = parameter_defaults(
        render_job_xml(job_settings(case.pipeline, repo_url=REPO_URL, kind="pipeline"))
    )
    assert plain["BRANCH_NAME"] == case.pipeline.default_branch
    assert set(plain) - {"BRANCH_NAME"} == {j.kill_switch for j in case.pipeline.jobs}
    multibranch = render_job_xml(job_settings(case.pipeline, repo_url=REPO_URL, kind="multibranch"))
    assert parameter_defaults(multibranch) == {}
