"""Opt-in checks against a real controller / instance (docs/jenkins-server.md, gitlab-server.md).

    LEPTON_LIVE_TESTS=1 JENKINS_URL=… JENKINS_USER=… JENKINS_TOKEN=… \\
    GITLAB_URL=… GITLAB_TOKEN=… LEPTON_LIVE_GITLAB_PROJECT=group/name \\
    python -m pytest -m live tests/adapters/test_live.py
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.live

_JENKINS = ("JENKINS_URL", "JENKINS_USER", "JENKINS_TOKEN")
_GITLAB = ("GITLAB_URL", "GITLAB_TOKEN", "LEPTON_LIVE_GITLAB_PROJECT")


def _missing(names: tuple[str, ...]) -> list[str]:
    missing = [n for n in names if not os.environ.get(n)]
    if not os.environ.get("LEPTON_LIVE_TESTS"):
        missing.insert(0, "LEPTON_LIVE_TESTS")
    return missing


needs_jenkins = pytest.mark.skipif(
    bool(_missing(_JENKINS)), reason=f"live Jenkins test: set {', '.join(_missing(_JENKINS))}"
)
needs_gitlab = pytest.mark.skipif(
    bool(_missing(_GITLAB)), reason=f"live GitLab test: set {', '.join(_missing(_GITLAB))}"
)


@needs_jenkins
def test_live_jenkins_linter_accepts_a_minimal_pipeline() -> None:
    from lepton_ci.adapters.jenkins import JenkinsServer, lint_jenkinsfile

    text = "pipeline {\n  agent any\n  stages { stage('a') { steps { echo 'hi' } } }\n}\n"
    assert "successfully validated" in lint_jenkinsfile(JenkinsServer.from_env(), text, "live")


@needs_jenkins
def test_live_jenkins_sync_is_idempotent() -> None:
    from lepton_ci.adapters.jenkins import JenkinsServer, sync_job
    from lepton_ci.pipeline import build_pipeline
    from lepton_ci.platforms.jenkins_job import job_settings, render_job_xml
    from lepton_ci.spec.loader import parse_spec

    spec = parse_spec(
        "project: {name: lepton-ci live test}\ntrain: {command: 'true'}\n"
        "evaluate: {command: 'true'}\n",
        "lepton.yaml",
    )
    xml = render_job_xml(job_settings(build_pipeline(spec), repo_url="https://example.com/x.git"))
    server = JenkinsServer.from_env()
    name = os.environ.get("LEPTON_LIVE_JENKINS_JOB", "lepton-ci-live-test")
    sync_job(server, name, xml, force=True)
    assert sync_job(server, name, xml, force=False).action == "unchanged"


@needs_gitlab
def test_live_gitlab_lint() -> None:
    from lepton_ci.adapters.gitlab import GitLabServer, lint_ci

    answer = lint_ci(
        GitLabServer.from_env(),
        os.environ["LEPTON_LIVE_GITLAB_PROJECT"],
        "live:\n  script: [echo hi]\n",
        "live",
    )
    assert answer["valid"]
