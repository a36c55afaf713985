"""Fixtures: fake Jenkins/GitLab servers on 127.0.0.1, canary credentials, a model repository."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.adapters.fakes.gitlab import FakeGitLab
from tests.adapters.fakes.jenkins import FakeJenkins

# Canary secrets: no output, message or traceback may ever contain them.
CANARIES = {
    "JENKINS_TOKEN": "canary-jenkins-11a7e2f9d3",
    "GITLAB_TOKEN": "canary-gitlab-glpat-5b8c0d",
    "CI_JOB_TOKEN": "canary-jobtoken-9e4f61aa",
}

SPEC = """\
project:
  name: Digits CNN
  model: digits-cnn
train:
  entrypoint: digits.train:main
evaluate:
  entrypoint: digits.evaluate:main
gates:
  - accuracy >= 0.9
  - macro_f1 >= champion - 0.01
schedule:
  retrain: "0 3 * * 1"
  timezone: Europe/Berlin
deploy:
  environments:
    - name: staging
"""


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``lepton-ci ARGS`` in-process through the real entry point (error mapping included)."""
    from lepton_ci.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "JENKINS_URL",
        "JENKINS_USER",
        "JENKINS_TOKEN",
        "GITLAB_URL",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "CI_SERVER_URL",
        "CI_PROJECT_ID",
        "CI_MERGE_REQUEST_IID",
        "CI_PROJECT_PATH",
        "CI",
        "GITLAB_CI",
        "CI_JOB_URL",
        "CI_PROJECT_DIR",
        "CI_COMMIT_SHORT_SHA",
        "CI_PIPELINE_URL",
    ):
        if not os.environ.get("LEPTON_LIVE_TESTS"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEPTON_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("LEPTON_HTTP_RETRIES", "3")
    monkeypatch.setenv("LEPTON_HTTP_TIMEOUT", "2")


@pytest.fixture
def jenkins(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJenkins]:
    with FakeJenkins(user="ci-bot", token=CANARIES["JENKINS_TOKEN"]) as server:
        monkeypatch.setenv("JENKINS_URL", server.url)
        monkeypatch.setenv("JENKINS_USER", "ci-bot")
        monkeypatch.setenv("JENKINS_TOKEN", CANARIES["JENKINS_TOKEN"])
        yield server


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    with FakeGitLab(token=CANARIES["GITLAB_TOKEN"], job_token=CANARIES["CI_JOB_TOKEN"]) as server:
        monkeypatch.setenv("GITLAB_URL", server.url)
        monkeypatch.setenv("GITLAB_TOKEN", CANARIES["GITLAB_TOKEN"])
        yield server


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model repository with lepton.yaml, as the working directory."""
    (tmp_path / "lepton.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path
