"""gitlab-ci-local (GitLab's YAML semantics, offline) accepts the pipelines and runs the right jobs.

Each scenario is a pipeline GitLab would create: a push to the default branch, a push to a
feature branch, a merge request, the scheduled retraining, a release tag (and another tag), and
a kill switch.
"""

from __future__ import annotations

import pytest
import yaml

from tests.gitlab.conftest import SPECS, VARIANTS, GitlabCiLocal, Render
from tests.gitlab.extract import gitlab_commands, jobs_in_order, resolve

TRAIN_PATH = {
    "train": "on_success",
    "evaluate": "on_success",
    "metrics-push": "always",  # even after a failed gate
    "report": "always",
}
FULL_PATH = {
    **TRAIN_PATH,
    "register": "on_success",
    "image-build": "on_success",
    "image-push": "on_success",
    "deploy-staging": "on_success",
    "deploy-production": "manual",
}
SCENARIOS = {
    "default branch": ({}, FULL_PATH),
    "schedule": ({"CI_PIPELINE_SOURCE": "schedule"}, FULL_PATH),
    # a schedule set on another branch runs what a push there runs: never register or deploy
    "schedule on a feature branch": (
        {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "feature/better-cnn"},
        TRAIN_PATH,
    ),
    "feature branch": ({"CI_COMMIT_BRANCH": "feature/better-cnn"}, TRAIN_PATH),
    "merge request": (
        {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_BRANCH": ""},
        TRAIN_PATH,
    ),
    "deploys disabled": (
        {"LEPTON_DEPLOY_DISABLED": "true"},
        {k: v for k, v in FULL_PATH.items() if not k.startswith("deploy-")},
    ),
    # a release tag (project.release_tags, default v*) runs everything, production manual
    "release tag": ({"CI_COMMIT_TAG": "v1.0.0", "CI_COMMIT_BRANCH": ""}, FULL_PATH),
    "other tag": ({"CI_COMMIT_TAG": "exp-1", "CI_COMMIT_BRANCH": ""}, {}),
    # a switch is on only for true/1/yes (any case): "false" disables nothing, and a disabled
    # step takes every step that needs it along (here: all of them need train)
    "switch set to false": ({"LEPTON_TRAIN_DISABLED": "false"}, FULL_PATH),
    "train disabled": ({"LEPTON_TRAIN_DISABLED": "Yes"}, {}),
    "image build disabled": (
        {"LEPTON_IMAGE_BUILD_DISABLED": "1"},
        {**TRAIN_PATH, "register": "on_success"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_jobs_per_pipeline_kind(
    render: Render, gitlab_ci_local: GitlabCiLocal, style: str, include: str
) -> None:
    gitlab_ci_local.write(render(SPECS["full"], style, include).text)
    for scenario, (variables, expected) in SCENARIOS.items():
        assert gitlab_ci_local.jobs(variables) == expected, scenario


@pytest.mark.slow
@pytest.mark.parametrize(("style", "include"), VARIANTS)
@pytest.mark.parametrize("case", ["minimal", "agent-image"])
def test_other_specs_are_accepted(
    render: Render, gitlab_ci_local: GitlabCiLocal, case: str, style: str, include: str
) -> None:
    out = render(SPECS[case], style, include, "ml/lepton.yaml")
    gitlab_ci_local.write(out.text)
    on_default_branch = {"CI_COMMIT_BRANCH": out.pipeline.default_branch}
    assert list(gitlab_ci_local.jobs(on_default_branch)) == list(out.pipeline.stages)
    if out.pipeline.default_branch != "main":  # our repo's branch is then a feature branch
        assert list(gitlab_ci_local.jobs()) == ["train", "evaluate", "metrics-push", "report"]


@pytest.mark.slow
@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_preview_agrees_with_our_resolver(
    render: Render, gitlab_ci_local: GitlabCiLocal, library_root, style: str, include: str
) -> None:
    """gitlab-ci-local's merge of includes, inputs, extends and default: is ours too."""
    out = render(SPECS["full"], style, include, "models/it's here/lepton.yaml")
    gitlab_ci_local.write(out.text)
    preview = yaml.safe_load(gitlab_ci_local.preview())
    theirs = [
        (name, line)
        for name, job in jobs_in_order(preview)
        for line in [*job.get("before_script", []), *job.get("script", [])]
    ]
    ours = resolve(out.text, library_root=library_root)
    mine = [
        (name, line)
        for name, job in jobs_in_order(ours)
        for line in [*job.get("before_script", []), *job.get("script", [])]
    ]
    assert theirs == mine
    assert [line for _, line in gitlab_commands(out.text, library_root=library_root)] == [
        line for _, line in mine if not line.startswith("export PATH=")
    ]
    for name in out.pipeline.stages:
        for key in ("needs", "environment", "resource_group", "stage", "rules", "artifacts"):
            if key in ours[name] or key in preview[name]:
                assert _normal(preview[name].get(key)) == _normal(ours[name].get(key)), (name, key)


def _normal(value):
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k != "optional" or v}
    return value
