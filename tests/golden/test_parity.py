"""One source of truth: the Jenkinsfile, the .gitlab-ci.yml and the pipeline model run the same
commands, in the same order, for every golden case and both styles.

The Jenkins side is read by evaluating the Groovy (and, for the library style, our shared
library's own command construction); the GitLab side by resolving includes and `extends`
(our own templates and components for the library style). Neither reads the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_ci.pipeline.model import shell_line
from tests.golden.cases import CASES, Case

ROOT = Path(__file__).resolve().parents[2]


def model_commands(case: Case) -> list[tuple[str, str]]:
    return [(job, shell_line(cmd)) for job, cmd in case.pipeline.command_sequence()]


def split_lines(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A multi-line `sh` script counts as its lines, in order."""
    return [
        (job, line.strip()) for job, text in pairs for line in text.splitlines() if line.strip()
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", [c for c in CASES if "jenkins" in c.platforms], ids=lambda c: c.name
)
def test_jenkinsfile_runs_the_model_commands(case: Case) -> None:
    from tests.jenkins.extract import jenkins_commands

    text = case.expected_text("Jenkinsfile")
    assert text is not None, "golden Jenkinsfile missing"
    library = ROOT / "jenkins" if case.style == "library" else None
    got = split_lines(
        jenkins_commands(text, library_dir=library, branch=case.pipeline.default_branch)
    )
    assert got == model_commands(case)


@pytest.mark.parametrize(
    "case", [c for c in CASES if "gitlab" in c.platforms], ids=lambda c: c.name
)
def test_gitlab_ci_runs_the_model_commands(case: Case) -> None:
    from tests.gitlab.extract import gitlab_commands

    text = case.expected_text(".gitlab-ci.yml")
    assert text is not None, "golden .gitlab-ci.yml missing"
    library = ROOT / "gitlab" if case.style == "library" else None
    got = split_lines(gitlab_commands(text, library_root=library))
    assert got == model_commands(case)


def test_the_model_itself_orders_the_lifecycle() -> None:
    case = next(c for c in CASES if c.name == "full-standalone")
    assert case.pipeline.stages == (
        "train",
        "evaluate",
        "register",
        "image-build",
        "image-push",
        "deploy-staging",
        "deploy-production",
        "metrics-push",
        "report",
    )
    production = case.pipeline.job("deploy-production")
    assert production.approval is not None
    assert production.commands[-1][:4] == ("lepton-ci", "models", "promote", "--to")
