"""Canary secrets: no command, succeeding or failing, with or without --verbose, shows a token."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.adapters.conftest import CANARIES
from tests.adapters.fakes.base import Reply
from tests.adapters.fakes.gitlab import FakeGitLab
from tests.adapters.fakes.jenkins import FakeJenkins

BASIC = base64.b64encode(f"ci-bot:{CANARIES['JENKINS_TOKEN']}".encode()).decode()
ECHO = (
    "token={jt} PRIVATE-TOKEN: {gt} Authorization: Basic {jt} job {ct} "
    "Authorization: Basic {basic} echoed {basic} as a query ?t={quoted}"
).format(
    jt=CANARIES["JENKINS_TOKEN"],
    gt=CANARIES["GITLAB_TOKEN"],
    ct=CANARIES["CI_JOB_TOKEN"],
    basic=BASIC,  # a server echoing the request's basic-auth header (user:token, base64)
    quoted=quote(CANARIES["GITLAB_TOKEN"], safe=""),
)


def assert_clean(text: str) -> None:
    for name, canary in CANARIES.items():
        assert canary not in text, f"{name} leaked"
    assert BASIC.rstrip("=") not in text, "JENKINS_TOKEN leaked as basic auth"


@pytest.fixture
def world(jenkins: FakeJenkins, gitlab: FakeGitLab, repo: Path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI_JOB_TOKEN", CANARIES["CI_JOB_TOKEN"])
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "7")
    with (repo / "lepton.yaml").open("a") as spec:  # an environment for `gitlab protect`
        spec.write("    - {name: production, approval: true, approvers: [alice, ml/leads]}\n")
    (repo / "Jenkinsfile").write_text("pipeline { agent any }\n")
    (repo / ".gitlab-ci.yml").write_text("t:\n  script: [x]\n")
    metrics = repo / ".lepton/run/evaluate/metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(
        json.dumps(
            {
                "model": "digits-cnn",
                "metrics": {"accuracy": 0.9},
                "gates": [],
                "passed": True,
                "champion": None,
            }
        )
    )
    return jenkins, gitlab


COMMANDS = [
    ("jenkins", "sync", "--repo-url", "https://git.example.com/d.git"),
    ("jenkins", "build", "--job", "digits-cnn", "--poll-interval", "0"),
    ("jenkins", "build", "--job", "missing", "--poll-interval", "0"),
    ("jenkins", "lint"),
    ("gitlab", "lint"),
    ("gitlab", "trigger", "--ref", "main", "--poll-interval", "0"),
    ("gitlab", "schedule"),
    ("gitlab", "protect"),
    ("gitlab", "protect", "--dry-run"),
    ("gitlab", "report"),
    ("gitlab", "report", "--mr", "404"),
]


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:3]))
def test_no_command_prints_a_secret(cli, world, args, verbose):  # type: ignore[no-untyped-def]
    result = cli(*(["--verbose"] if verbose else []), *args)
    assert_clean(result.output)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:3]))
def test_servers_echoing_secrets_are_redacted(cli, world, args):  # type: ignore[no-untyped-def]
    jenkins, gitlab = world
    for server in (jenkins, gitlab):
        for method in ("GET", "POST", "PUT"):
            server.fail(method, ".", Reply(400, {"message": ECHO}), times=99)
    result = cli("--verbose", *args)
    assert result.code != 0
    assert_clean(result.output)
    assert "Traceback" in result.output or "error:" in result.output


def test_without_verbose_there_is_no_traceback(cli, world):  # type: ignore[no-untyped-def]
    jenkins, _ = world
    jenkins.fail("GET", ".", Reply(500, "boom"), times=99)
    result = cli("jenkins", "build", "--job", "digits-cnn")
    assert result.code == 6
    assert "Traceback" not in result.output


def test_the_servers_words_are_kept_with_the_secret_masked(cli, world):  # type: ignore[no-untyped-def]
    _, gitlab = world
    gitlab.fail("GET", ".", Reply(400, {"message": ECHO}), times=99)
    result = cli("gitlab", "schedule")
    assert "PRIVATE-TOKEN: ***" in result.err and "job ***" in result.err


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
@pytest.mark.parametrize("echo", [False, True], ids=["answering", "echoing"])
def test_report_publish_never_prints_a_secret(cli, world, monkeypatch, verbose, echo):  # type: ignore[no-untyped-def]
    """`report --publish` exits 0 even when GitLab refuses, and still shows no token."""
    _, gitlab = world
    monkeypatch.setenv("GITLAB_CI", "true")
    plots = Path(".lepton/run/report/plots")
    plots.mkdir(parents=True)
    (plots / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    if echo:
        for method in ("GET", "POST", "PUT"):
            gitlab.fail(method, ".", Reply(400, {"message": ECHO}), times=99)
    result = cli(*(["--verbose"] if verbose else []), "report", "--publish")
    assert result.code == 0, result.output
    assert ("warning:" in result.err) == echo
    assert_clean(result.output)
