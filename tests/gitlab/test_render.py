"""What the generated .gitlab-ci.yml says, read back with a YAML parser (both styles)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lepton_ci.pipeline.model import shell_line
from lepton_ci.render.gitlab import RETRY_WHEN, render_gitlab_ci
from lepton_ci.render.outputs import RenderOptions
from lepton_ci.spec.loader import parse_spec
from tests.gitlab.conftest import SPECS, VARIANTS, Render
from tests.gitlab.extract import gitlab_commands, jobs_in_order, resolve


@pytest.mark.parametrize("case", sorted(SPECS))
@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_commands_equal_the_pipeline_model(
    render: Render, library_root: Path, case: str, style: str, include: str
) -> None:
    for spec_path in ("lepton.yaml", "models/digits cnn/lepton.yaml"):
        out = render(SPECS[case], style, include, spec_path)
        expected = [(job, shell_line(cmd)) for job, cmd in out.pipeline.command_sequence()]
        assert gitlab_commands(out.text, library_root=library_root) == expected


def test_standalone_pipeline_shape(render: Render) -> None:
    out = render(SPECS["full"], "standalone")
    doc = yaml.safe_load(out.text)
    assert doc["stages"] == list(out.pipeline.stages)
    assert doc["default"]["retry"] == {"max": 2, "when": list(RETRY_WHEN)}
    assert doc["default"]["interruptible"] is True
    assert doc["default"]["tags"] == ["linux", "docker"]
    assert doc["variables"]["LEPTON_PROJECT"] == {"value": "Digits CNN", "expand": False}
    base = doc[".lepton-base"]
    assert base["variables"] == {"PIP_CACHE_DIR": "$CI_PROJECT_DIR/.lepton/pip-cache"}
    assert doc["train"]["cache"] == {
        "key": "lepton-pip-train-repo",
        "paths": [".lepton/pip-cache/"],
    }
    assert doc["train"]["before_script"][0] == "python3 -m venv .lepton/venv"

    train = doc["train"]
    assert train["needs"] == []
    assert train["tags"] == ["gpu"] and train["image"].startswith("pytorch/pytorch:")
    evaluate = doc["evaluate"]
    assert evaluate["needs"] == [{"job": "train", "artifacts": True}]
    assert evaluate["artifacts"]["reports"]["junit"] == ".lepton/run/evaluate/junit.xml"
    assert evaluate["artifacts"]["when"] == "always"
    assert doc["image-push"]["artifacts"]["reports"]["dotenv"] == ".lepton/run/image/image.env"
    assert doc["register"]["artifacts"]["reports"]["dotenv"] == ".lepton/run/register/model.env"


def test_deploys_carry_environment_resource_group_and_approval(render: Render) -> None:
    doc = yaml.safe_load(render(SPECS["full"], "standalone").text)
    staging, production = doc["deploy-staging"], doc["deploy-production"]
    assert staging["environment"] == {
        "name": "staging",
        "deployment_tier": "staging",
        "url": "$LEPTON_DEPLOY_URL",  # from the deploy step's dotenv report
    }
    assert production["environment"]["url"] == "https://digits.example.com"
    assert staging["resource_group"] != production["resource_group"]
    assert staging["interruptible"] is False
    # production waits for a person: manual in every rule that lets it run, and blocking
    assert production["allow_failure"] is False
    assert [r.get("when") for r in production["rules"]] == ["never", "manual", "manual", "manual"]
    assert all(r.get("when") is None for r in staging["rules"][1:])
    assert {"job": "deploy-staging", "artifacts": True} in production["needs"]


def test_rules_follow_the_model(render: Render) -> None:
    doc = yaml.safe_load(render(SPECS["agent-image"], "standalone").text)
    train, register, deploy = doc["train"]["rules"], doc["register"]["rules"], doc["deploy-dev"]
    # kill switch first: the step's own, then those of the steps it needs
    # (on only for true/1/yes in any case: "false" must not disable anything)
    on = " =~ /^(true|1|yes)$/i"
    assert train[0] == {"if": "$LEPTON_TRAIN_DISABLED" + on, "when": "never"}
    assert register[0]["if"].startswith(
        f"$LEPTON_REGISTER_DISABLED{on} || $LEPTON_TRAIN_DISABLED{on}"
    )
    # dev is a `local` target: it runs the model from the run directory, so it needs no image
    assert "$LEPTON_REGISTER_DISABLED" + on in deploy["rules"][0]["if"]
    assert "$LEPTON_IMAGE_PUSH_DISABLED" not in deploy["rules"][0]["if"]
    assert "$LEPTON_IMAGE_PUSH_DISABLED" + on in doc["deploy-prod"]["rules"][0]["if"]
    ifs = [r["if"] for r in train]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in ifs and "$CI_COMMIT_BRANCH" in ifs
    # register & later: the default branch only, never merge requests, and only scheduled
    # pipelines of the default branch (a schedule on another branch must never register or
    # deploy; there train and evaluate run as for a push)
    scheduled = '$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == "trunk"'
    assert [r["if"] for r in register[1:]] == [
        scheduled,
        '$CI_COMMIT_BRANCH == "trunk"',
        "$CI_COMMIT_TAG =~ /^v.*$/",
    ]
    assert '$CI_PIPELINE_SOURCE == "schedule"' in ifs
    assert {r.get("when") for r in doc["metrics-push"]["rules"][1:]} == {"always"}
    # metrics carry the registered version: metrics-push waits for register where it runs
    assert doc["metrics-push"]["needs"][-1] == {
        "job": "register",
        "artifacts": True,
        "optional": True,
    }
    assert doc["default"]["retry"]["max"] == 0


@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_the_report_runs_even_after_a_failed_gate_and_exposes_its_page_and_metrics(
    render: Render, library_root: Path, style: str, include: str
) -> None:
    job = resolve(render(SPECS["full"], style, include).text, library_root=library_root)["report"]
    assert job["needs"] == [
        {"job": "train", "artifacts": True},
        {"job": "evaluate", "artifacts": True},
        {"job": "register", "artifacts": True, "optional": True},
    ]
    # `when: always`: after a failed evaluate (a gate) too; never when a kill switch is on
    assert job["rules"][0]["when"] == "never"
    assert {r.get("when") for r in job["rules"][1:]} == {"always"}
    assert job["artifacts"] == {
        "expose_as": "lepton-ci report",  # the merge request's link to the page
        "paths": [".lepton/run/report/index.html"],
        "reports": {"metrics": ".lepton/run/report/metrics.txt"},
        "expire_in": "30 days",
    }


def test_agent_image_means_no_setup_and_no_cache(render: Render) -> None:
    doc = yaml.safe_load(render(SPECS["agent-image"], "standalone").text)
    assert doc["default"]["image"] == "registry.example.com/ml/lepton-ci:0.1.0"
    assert doc[".lepton-base"] == {"variables": {}} and "variables" not in doc["train"]
    assert not [job for job, value in doc.items() if "cache" in value]
    assert not [job for job, value in doc.items() if "before_script" in value]


def test_workflow_avoids_duplicate_branch_and_merge_request_pipelines(render: Render) -> None:
    for style, include in VARIANTS:
        doc = yaml.safe_load(render(SPECS["minimal"], style, include).text)
        rules = doc["workflow"]["rules"]
        assert rules[1] == {
            "if": '$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS && $CI_PIPELINE_SOURCE == "push"',
            "when": "never",
        }


def test_library_component_include_is_pinned_with_inputs(render: Render) -> None:
    out = render(SPECS["full"], "library", "component", "ml/lepton.yaml")
    doc = yaml.safe_load(out.text)
    components = [inc["component"] for inc in doc["include"]]
    assert components[0] == "$CI_SERVER_FQDN/lepton-ci/lepton-ci/train@0.1.0"
    assert components.count("$CI_SERVER_FQDN/lepton-ci/lepton-ci/deploy@0.1.0") == 2
    deploys = [inc["inputs"] for inc in doc["include"] if "/deploy@" in inc["component"]]
    assert [d["job_name"] for d in deploys] == ["deploy-staging", "deploy-production"]
    assert [d["when"] for d in deploys] == ["on_success", "manual"]
    assert deploys[1]["url"] == "https://digits.example.com"
    assert all(inc["inputs"]["spec_args"] == " --spec ml/lepton.yaml" for inc in doc["include"])
    assert all(inc["inputs"]["retry"] == 2 for inc in doc["include"])
    # the library file itself runs nothing but each job's setup and the champion's promotion
    assert doc["train"]["before_script"][1].endswith("'lepton-ci[train]==0.1.0'")
    assert doc["image-build"]["before_script"][1].endswith("'lepton-ci[docker]==0.1.0'")
    assert doc["deploy-production"]["script"][-1].startswith("lepton-ci models promote")
    assert "script" not in doc.get("deploy-staging", {})


def test_library_template_include_extends_hidden_jobs(render: Render, library_root) -> None:
    out = render(SPECS["full"], "library", "template")
    doc = yaml.safe_load(out.text)
    assert doc["include"] == [
        {
            "project": "lepton-ci/lepton-ci",
            "ref": "v0.1.0",
            "file": "/include/lepton.gitlab-ci.yml",
            "inputs": {"retry": 2},
        }
    ]
    assert {job: doc[job]["extends"] for job in out.pipeline.stages} == {
        job.name: job.hidden_name for job in out.pipeline.jobs
    }
    merged = resolve(out.text, library_root=library_root)
    assert merged["deploy-production"]["rules"][-1]["when"] == "manual"
    assert merged["deploy-production"]["script"][0] == "lepton-ci deploy --env production"
    assert merged["deploy-production"]["environment"]["deployment_tier"] == "production"
    assert merged["register"]["resource_group"] == out.pipeline.job("register").resource_group


def test_unknown_style_is_a_clear_error(render: Render) -> None:
    from lepton_ci.errors import LeptonError
    from lepton_ci.pipeline import build_pipeline
    from lepton_ci.spec.loader import parse_spec

    spec = parse_spec(SPECS["minimal"])
    options = RenderOptions("fancy", "0.1.0", "lepton-ci", "component", "a/b")
    with pytest.raises(LeptonError, match="unknown style 'fancy'"):
        render_gitlab_ci(build_pipeline(spec), options)


@pytest.mark.parametrize("include", ["component", "template"])
def test_library_style_adds_nothing_to_default_that_other_jobs_would_inherit(
    render: Render, library_root: Path, include: str
) -> None:
    out = render(SPECS["full"], "library", include)
    doc = yaml.safe_load(out.text)
    assert set(doc["default"]) <= {"tags", "image", "timeout"}  # no before_script, no cache
    # a job of the user's own, beside ours, runs exactly its own script
    mine = out.text + '\nsast:\n  stage: train\n  script: ["semgrep ."]\n'
    config = resolve(mine, library_root=library_root)
    assert "before_script" not in config["sast"] and "cache" not in config["sast"]
    assert config["train"]["before_script"][0] == "python3 -m venv .lepton/venv"


def test_pip_caches_are_keyed_by_the_install_and_the_users_requirement_files(
    render: Render,
) -> None:
    spec = SPECS["full"] + "lepton-ci: {requirements: [requirements.txt]}\n"
    for style, include in VARIANTS:
        doc = yaml.safe_load(render(spec, style, include).text)
        assert doc["train"]["cache"] == {
            "key": {"files": ["requirements.txt"], "prefix": "lepton-pip-train-repo"},
            "paths": [".lepton/pip-cache/"],
        }
        # one upload per distinct install: evaluate and the image push only pull
        assert doc["evaluate"]["cache"]["policy"] == "pull"
        assert "policy" not in doc["image-build"]["cache"]
        assert doc["image-push"]["cache"]["key"]["prefix"] == "lepton-pip-docker"
        assert doc["image-push"]["cache"]["policy"] == "pull"
        variables = doc[".lepton-base" if style == "standalone" else "register"]["variables"]
        assert variables["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.lepton/pip-cache"


@pytest.mark.parametrize("case", sorted(SPECS))
@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_approval_jobs_deploy_to_the_environments_gitlab_protect_protects(
    render: Render, library_root: Path, case: str, style: str, include: str
) -> None:
    """`gitlab protect` protects each `approval: true` environment by name; the job deploying
    there must name that environment (GitLab blocks jobs by `environment:name`) and stay manual:
    GitLab's own waiting-for-approval state is a manual job whose deployment is blocked, run by
    hand once approved (gitlab ee/app/models/concerns/ee/ci/deployable.rb,
    doc/ci/environments/deployment_approvals.md), and without Premium it is the only gate."""
    out = render(SPECS[case], style, include)
    config = resolve(out.text, library_root=library_root)
    spec = parse_spec(SPECS[case], "lepton.yaml")
    approval = {env.name for env in spec.deploy.environments if env.approval}
    manual: set[str] = set()
    for _, job in jobs_in_order(config):
        env = (job.get("environment") or {}).get("name")
        whens = {r.get("when") for r in job.get("rules") or []} - {"never"}
        if whens == {"manual"}:
            manual.add(env)
        if env in approval:
            assert whens == {"manual"} and job.get("allow_failure") is False, job
    assert manual == approval
