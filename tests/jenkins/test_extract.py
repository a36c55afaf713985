"""The Groovy stub itself: strict enough that a passing evaluation means something."""

from __future__ import annotations

import pytest

from tests.jenkins.extract import JenkinsEvalError, evaluate_jenkinsfile, jenkins_commands

TINY = """
pipeline {
    agent none
    stages {
        stage('Build') {
            environment { LEPTON_JOB = 'build' }
            steps { sh 'make' }
        }
        stage('Ship') {
            when { branch 'main' }
            environment { LEPTON_JOB = 'ship' }
            steps { sh "make ship" }
        }
    }
}
"""


def test_commands_honour_when_for_the_branch(groovy_runtime: None) -> None:
    assert jenkins_commands(TINY, branch="main") == [("build", "make"), ("ship", "make ship")]
    assert jenkins_commands(TINY, branch="topic") == [("build", "make")]


def test_unknown_directives_and_steps_are_refused(groovy_runtime: None) -> None:
    with pytest.raises(JenkinsEvalError, match="'optoins' is not a directive of pipeline"):
        evaluate_jenkinsfile(TINY.replace("agent none", "agent none\n    optoins { timestamps() }"))
    with pytest.raises(RuntimeError, match=r"No signature of method.*shh"):
        evaluate_jenkinsfile(TINY.replace("sh 'make'", "shh 'make'"))


def test_unknown_trigger_is_refused() -> None:
    with pytest.raises(ValueError, match="trigger must be one of"):
        jenkins_commands(TINY, trigger="release")


TAGGED = """
pipeline {
    agent none
    stages {
        stage('Glob') {
            when { tag 'v*' }
            environment { LEPTON_JOB = 'glob' }
            steps { sh 'glob' }
        }
        stage('Regexp') {
            when { tag pattern: '^v.*$', comparator: 'REGEXP' }
            environment { LEPTON_JOB = 'regexp' }
            steps { sh 'regexp' }
        }
        stage('Untagged') {
            when { not { buildingTag() } }
            environment { LEPTON_JOB = 'untagged' }
            steps { sh 'untagged' }
        }
    }
}
"""


@pytest.mark.parametrize(
    ("tag", "jobs"),
    [
        ("v1.0", ["glob", "regexp"]),
        ("V1.0", ["glob"]),  # Jenkins' GLOB comparator ignores case
        ("v1/rc", ["regexp"]),  # ... and its `*` stops at `/` (Ant patterns)
        ("exp-1", []),
    ],
)
def test_tag_builds_set_tag_name_and_tag_conditions_compare_like_jenkins(
    groovy_runtime: None, tag: str, jobs: list[str]
) -> None:
    assert [job for job, _ in jenkins_commands(TAGGED, branch=tag, trigger="tag")] == jobs
    assert jenkins_commands(TAGGED, branch="v1.0") == [("untagged", "untagged")]
