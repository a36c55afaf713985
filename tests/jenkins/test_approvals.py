"""Approvals and deploys on Jenkins, both styles, as the evaluated Jenkinsfiles behave.

* A 03:00 scheduled retrain is approvable in the morning: the approval waits on its own clock
  (`approval_timeout_hours`, default 7 days) and inside no other time limit, while every stage keeps
  its own limit (ModelInterpreter wraps all stages in a pipeline-level `timeout`, so there is none).
* Deploys of one environment never overlap: each runs holding the Lockable Resources lock named
  by the model's `resource_group`; an approval holds no lock.
* An older build never deploys after a newer one: a milestone inside each environment's lock, right
  before the deploy, and one right after each approval (pipeline-milestone-step).

The stub's clock and STUB_NEWER_MILESTONE are explained in test_stub_flow.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from lepton_ci.errors import SpecError
from lepton_ci.spec.loader import parse_spec
from tests.jenkins.conftest import SPECS, Rendered, render, rendered
from tests.jenkins.extract import Evaluation, JenkinsEvalError

SEVEN_DAYS = 7 * 24 * 60
MORNING = 6 * 60  # a 03:00 retrain, approved at 09:00


def deploys(evaluation: Evaluation) -> list[str]:
    return [
        e["script"] for e in evaluation.of_kind("sh") if e["script"].startswith("lepton-ci deploy")
    ]


def failed(r: Rendered, **env: str) -> JenkinsEvalError:
    with pytest.raises(JenkinsEvalError) as info:
        r.evaluate(branch="main", trigger="schedule", **env)
    return info.value


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == kind]


def test_a_night_retrain_approved_in_the_morning_deploys_production(full: Rendered) -> None:
    evaluation = full.evaluate(
        branch="main", trigger="schedule", STUB_APPROVAL_MINUTES=str(MORNING)
    )
    assert deploys(evaluation)[-1] == "lepton-ci deploy --env production"


def test_the_approval_waits_inside_its_own_time_limit_only_and_holds_no_lock(
    full: Rendered,
) -> None:
    [ask] = full.evaluate(branch="main").of_kind("input")
    assert ask["timeouts"] == [SEVEN_DAYS]
    assert ask["locks"] == []


def test_an_approval_nobody_gives_within_its_limit_deploys_nothing_more(full: Rendered) -> None:
    error = failed(full, STUB_APPROVAL_MINUTES=str(SEVEN_DAYS + 1))
    assert "Timeout has been exceeded" in str(error)
    assert [e["script"] for e in of_kind(error.events, "sh") if "deploy" in e["script"]] == [
        "lepton-ci deploy --env staging"]  # fmt: skip


@pytest.mark.parametrize("style", ["standalone", "library"])
def test_the_approval_limit_comes_from_the_spec(style: str) -> None:
    text = SPECS["full"].replace(
        "approvers: [alice, ops-team]}", "approvers: [alice], approval_timeout_hours: 12}"
    )
    spec = parse_spec(text, "approval.yaml")
    jenkinsfile = render(spec, style)[1]
    expected = (
        "timeout(time: 12, unit: 'HOURS')" if style == "standalone" else "approvalTimeoutHours: 12,"
    )
    assert expected in jenkinsfile


def test_an_approval_limit_out_of_range_is_a_clear_error() -> None:
    text = SPECS["full"].replace("approvers: [alice, ops-team]}", "approval_timeout_hours: 0}")
    with pytest.raises(SpecError, match="approval_timeout_hours"):
        parse_spec(text, "approval.yaml")


def test_every_stage_keeps_a_time_limit(full: Rendered) -> None:
    events = full.evaluate(branch="main").events
    limits = {e["job"]: e["minutes"] for e in of_kind(events, "timeout") if e["job"]}
    assert limits == {
        "train": 60, "evaluate": 15, "register": 120, "image-build": 120, "image-push": 120,
        "deploy-staging": 120, "deploy-production": 120, "metrics-push": 120, "report": 120,
    }  # fmt: skip
    slow = failed(full, STUB_SH_MINUTES="61")  # each step takes 61 minutes: Train (60) runs out
    assert "(60 minutes)" in str(slow)


def test_each_deploy_runs_holding_its_environments_lock(full: Rendered) -> None:
    by_job = {job.name: job.resource_group for job in full.pipeline.jobs}
    steps = full.evaluate(branch="main").of_kind("sh")
    for job in ("register", "deploy-staging", "deploy-production"):
        held = [e["locks"] for e in steps if e["job"] == job]
        assert held and all(locks == [by_job[job]] for locks in held), job
    assert by_job["deploy-production"] == "lepton-deploy-digits-cnn-production"
    assert all(e["locks"] == [] for e in steps if e["job"] in ("train", "evaluate", "metrics-push"))


def test_no_lock_is_taken_where_nothing_deploys(full: Rendered) -> None:
    for branch, trigger in (("feature/faster-cnn", "push"), ("main", "merge_request")):
        assert full.evaluate(branch=branch, trigger=trigger).of_kind("lock") == []


def test_milestones_guard_each_approval_and_each_deploy_in_order(full: Rendered) -> None:
    events = full.evaluate(branch="main").events
    order = [
        (e["kind"], e.get("ordinal"), tuple(e.get("locks", ())))
        for e in events
        if e["kind"] in ("milestone", "approved")
        or (e["kind"] == "sh" and e["script"].startswith("lepton-ci deploy"))
    ]
    staging, production = "lepton-deploy-digits-cnn-staging", "lepton-deploy-digits-cnn-production"
    assert order == [
        ("milestone", 1, (staging,)), ("sh", None, (staging,)),
        ("approved", None, ()), ("milestone", 2, ()),
        ("milestone", 3, (production,)), ("sh", None, (production,)),
    ]  # fmt: skip


def test_an_older_build_never_deploys_after_a_newer_one(full: Rendered) -> None:
    # a newer build of the job was approved for production (passed milestone 2)
    error = failed(full, STUB_NEWER_MILESTONE="2")
    assert "Superseded by a newer build" in str(error)
    assert not [e for e in of_kind(error.events, "sh") if "deploy" in e["script"]]
    # a newer build that only deployed staging (1) stops this one before it deploys staging too
    assert not [e for e in of_kind(failed(full, STUB_NEWER_MILESTONE="1").events, "sh")
                if "deploy" in e["script"]]  # fmt: skip


def test_a_milestone_is_never_passed_twice_when_a_deploy_reruns_on_a_new_agent(
    full: Rendered,
) -> None:
    evaluation = full.evaluate(branch="main", STUB_AGENT_LOST="deploy-production")
    [rerun] = evaluation.of_kind("retrying")  # the agent went away in its first step
    assert rerun["job"] == "deploy-production"
    assert deploys(evaluation)[-1] == "lepton-ci deploy --env production"
    assert [e["ordinal"] for e in evaluation.of_kind("milestone")] == [1, 2, 3]


def test_both_styles_lock_wait_and_order_alike() -> None:
    def points(r: Rendered) -> list[tuple[object, ...]]:
        return [
            (e["kind"], e.get("ordinal"), e.get("resource"), e.get("timeouts"))
            for e in r.evaluate(branch="main").events
            if e["kind"] in ("milestone", "lock", "unlock", "input")
        ]

    assert points(rendered("full", "library")) == points(rendered("full", "standalone"))
