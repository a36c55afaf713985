"""`lepton-ci jenkins sync`: the job on the controller follows the spec, idempotently."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.adapters.fakes.jenkins import CRUMB, FakeJenkins

REPO = "https://git.example.com/ml/digits.git"


def sync(cli, *extra: str):  # type: ignore[no-untyped-def]
    return cli("jenkins", "sync", "--repo-url", REPO, "--credentials-id", "git-ro", *extra)


def test_first_sync_creates_a_pipeline_job_from_the_spec(cli, jenkins: FakeJenkins, repo: Path):
    result = sync(cli, "--kind", "pipeline")
    assert result.code == 0, result.output
    assert "job digits-cnn: created" in result.out
    root = ET.fromstring(jenkins.jobs["digits-cnn"].config)
    scm = "definition/scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/"
    assert root.findtext(scm + "url") == REPO
    assert root.findtext(scm + "credentialsId") == "git-ro"
    assert root.findtext("definition/scriptPath") == "Jenkinsfile"
    assert root.findtext("definition/scm/branches/hudson.plugins.git.BranchSpec/name") == "*/main"
    cron = root.findtext(".//hudson.triggers.TimerTrigger/spec")
    assert cron == "TZ=Europe/Berlin\n0 3 * * 1"
    names = [p.findtext("name") for p in root.iter("hudson.model.BooleanParameterDefinition")]
    assert "LEPTON_TRAIN_DISABLED" in names and "LEPTON_DEPLOY_DISABLED" in names
    # every write carried the crumb fetched from the crumb issuer
    assert all(r.headers.get("jenkins-crumb") == CRUMB for r in jenkins.writes())
    assert jenkins.seen("GET", "^/crumbIssuer/api/json$")


def test_second_sync_with_nothing_changed_writes_nothing(cli, jenkins: FakeJenkins, repo: Path):
    assert sync(cli).code == 0
    before = len(jenkins.job_writes())
    result = sync(cli)
    assert result.code == 0, result.output
    assert "unchanged" in result.out
    assert len(jenkins.job_writes()) == before


def test_a_spec_change_updates_the_job(cli, jenkins: FakeJenkins, repo: Path):
    assert sync(cli, "--kind", "pipeline").code == 0
    spec = repo / "lepton.yaml"
    spec.write_text(spec.read_text().replace('"0 3 * * 1"', '"30 1 * * *"'))
    result = sync(cli, "--kind", "pipeline")
    assert result.code == 0, result.output
    assert "job digits-cnn: updated" in result.out
    assert "30 1 * * *" in result.out  # the change is listed
    assert jenkins.seen("POST", "/job/digits-cnn/config.xml$")
    assert "30 1 * * *" in jenkins.jobs["digits-cnn"].config


def test_a_job_edited_in_the_ui_is_reported_and_kept_without_force(
    cli, jenkins: FakeJenkins, repo: Path
):
    assert sync(cli).code == 0
    job = jenkins.jobs["digits-cnn"]
    job.config = job.config.replace("<scriptPath>Jenkinsfile<", "<scriptPath>ci/Jenkinsfile.dev<")
    edited = job.config
    result = sync(cli)
    assert result.code == 5, result.output
    assert "edited on the controller since the last sync" in result.err
    assert "script_path: 'ci/Jenkinsfile.dev' -> 'Jenkinsfile'" in result.err
    assert "--force" in result.err
    assert job.config == edited
    forced = sync(cli, "--force")
    assert forced.code == 0, forced.output
    assert "overwritten" in forced.out
    assert "<scriptPath>Jenkinsfile</scriptPath>" in job.config


def test_jenkins_reformatting_the_xml_is_not_an_edit(cli, jenkins: FakeJenkins, repo: Path):
    assert sync(cli, "--kind", "pipeline").code == 0
    job = jenkins.jobs["digits-cnn"]
    # Jenkins re-saves with plugin versions and its own indentation
    job.config = job.config.replace('plugin="workflow-job"', 'plugin="workflow-job@1436.vfa_244"')
    job.config = job.config.replace("\n    ", "\n        ")
    before = len(jenkins.job_writes())
    assert "unchanged" in sync(cli, "--kind", "pipeline").out
    assert len(jenkins.job_writes()) == before


def test_a_job_not_made_by_lepton_ci_is_not_overwritten(cli, jenkins: FakeJenkins, repo: Path):
    from tests.adapters.fakes.jenkins import Job

    jenkins.jobs["digits-cnn"] = Job(
        config="<flow-definition><description>by hand</description></flow-definition>"
    )
    result = sync(cli)
    assert result.code == 5
    assert "was not created by lepton-ci" in result.err


def test_by_default_a_multibranch_project_discovers_branches_and_tags_and_builds_both(
    cli, jenkins: FakeJenkins, repo: Path
):
    # multibranch: BRANCH_NAME, TAG_NAME and the Jenkinsfile's own cron work as the spec says
    result = sync(cli)
    assert result.code == 0, result.output
    root = ET.fromstring(jenkins.jobs["digits-cnn"].config)
    assert root.tag.endswith("WorkflowMultiBranchProject")
    source = root.find(".//jenkins.branch.BranchSource")
    assert source is not None
    traits = [t.tag for t in source.iterfind("source/traits/*")]
    assert traits == [
        "jenkins.plugins.git.traits.BranchDiscoveryTrait",
        "jenkins.plugins.git.traits.TagDiscoveryTrait",
    ]
    # branch-api builds discovered tags only with a build strategy that accepts them; once any
    # strategy is set, branches need their own (basic-branch-build-strategies)
    strategies = [s.tag.rsplit(".", 1)[-1] for s in source.iterfind("buildStrategies/*")]
    assert strategies == ["BranchBuildStrategyImpl", "TagBuildStrategyImpl"]
    # no job-level timer nor Boolean parameters in a multibranch project: the Jenkinsfile owns both
    assert root.find(".//hudson.triggers.TimerTrigger") is None


def test_multibranch_project_in_a_folder(cli, jenkins: FakeJenkins, repo: Path):
    jenkins.folders.add("ml")
    result = sync(cli, "--kind", "multibranch", "--job", "ml/digits")
    assert result.code == 0, result.output
    root = ET.fromstring(jenkins.jobs["ml/digits"].config)
    assert root.tag.endswith("WorkflowMultiBranchProject")
    assert root.findtext(".//jenkins.branch.BranchSource/source/remote") == REPO
    assert root.findtext("factory/scriptPath") == "Jenkinsfile"
    assert jenkins.seen("POST", "^/job/ml/createItem$")[0].query["name"] == ["digits"]


def test_missing_folder_is_named(cli, jenkins: FakeJenkins, repo: Path):
    result = sync(cli, "--job", "nowhere/digits")
    assert result.code == 6
    assert "nowhere/digits" in result.err


def test_dry_run_prints_the_xml_and_needs_no_controller(cli, repo: Path):
    result = sync(cli, "--dry-run")
    assert result.code == 0, result.output
    assert result.out.startswith("<?xml")
    assert "[lepton-ci sync sha256:" in result.out


def test_credentials_in_the_origin_url_never_reach_the_job(cli, repo: Path):
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(
        ["git", "remote", "add", "origin", "https://bot:s3cr3t-pat@git.example.com/x.git"],
        cwd=repo,
        check=True,
    )
    result = cli("jenkins", "sync", "--dry-run")
    assert result.code == 0, result.output
    assert "<remote>https://git.example.com/x.git</remote>" in result.out
    assert "s3cr3t-pat" not in result.out
