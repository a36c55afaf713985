"""The register stage's hand-off (`register/model.env`) reaches the report and the metrics push
wherever register ran in this build, and only there (issue 13).

GitLab gives those jobs register's artifacts through an optional need (`Job.after`). Jenkins has
no such thing, and `unstash` of a name never stashed fails the step (StashManager.unstash), as the
stub's does: both styles keep a record of the stashes taken in the build and unstash register's
only when it holds it. On a feature branch, after a failed gate and with register's kill switch on,
register does not run and those stages go on without it, failing nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.jenkins.conftest import Rendered
from tests.jenkins.extract import Evaluation

REGISTER_STASH = "lepton-register"
TAKERS = ("metrics-push", "report")  # the steps whose row lists register in `after`


def unstashed(evaluation: Evaluation, job: str) -> list[str]:
    return [e["name"] for e in evaluation.of_kind("unstash") if e["job"] == job]


def failures(evaluation: Evaluation, job: str) -> list[dict[str, Any]]:
    """What marked the job's stage failed: a caught failing step, or a failed stage."""
    return [
        e
        for e in evaluation.events
        if e["kind"] in ("caught", "stage-failed") and (e["job"] == job or e.get("name") == job)
    ]


def test_on_the_default_branch_the_report_unstashes_register_after_register_stashed_it(
    full: Rendered,
) -> None:
    evaluation = full.evaluate(branch="main")
    events = evaluation.events
    [stash] = [e for e in evaluation.of_kind("stash") if e["name"] == REGISTER_STASH]
    for job in TAKERS:
        assert unstashed(evaluation, job) == ["lepton-train", "lepton-evaluate", REGISTER_STASH]
        [taken] = [
            e
            for e in evaluation.of_kind("unstash")
            if (e["job"], e["name"]) == (job, REGISTER_STASH)
        ]
        first_step = next(e for e in events if e["kind"] == "sh" and e["job"] == job)
        assert events.index(stash) < events.index(taken) < events.index(first_step)
        assert failures(evaluation, job) == []


@pytest.mark.parametrize(
    ("branch", "trigger", "env"),
    [
        ("feature/faster-cnn", "push", {}),
        ("feature/faster-cnn", "merge_request", {}),
        ("main", "push", {"STUB_FAIL_SH": "lepton-ci evaluate"}),  # a failed gate
        ("main", "push", {"LEPTON_REGISTER_DISABLED": "1"}),
    ],
    ids=["feature-branch", "merge-request", "failed-gate", "register-disabled"],
)
def test_where_register_did_not_run_the_report_goes_on_without_it_and_succeeds(
    full: Rendered, branch: str, trigger: str, env: dict[str, str]
) -> None:
    evaluation = full.evaluate(branch=branch, trigger=trigger, **env)
    assert not [e for e in evaluation.of_kind("sh") if e["job"] == "register"]
    assert [e for e in evaluation.of_kind("stash") if e["name"] == REGISTER_STASH] == []
    for job in TAKERS:
        assert unstashed(evaluation, job) == ["lepton-train", "lepton-evaluate"]
        assert [e["script"] for e in evaluation.of_kind("sh") if e["job"] == job][-1].startswith(
            "lepton-ci " + ("report" if job == "report" else "metrics")
        )
        assert failures(evaluation, job) == []
