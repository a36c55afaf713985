"""The stub's `timeout`, `input`, `lock`, `milestone` and declarative stage order, checked against
what upstream does.

Upstream, as the stub's comments cite it:

* `timeout`: TimeoutStepExecution (jenkinsci/workflow-basic-steps-plugin) cancels whatever its body
  runs when the time is up, an `input` included (FlowInterruptedException, ExceededTimeout).
* `input`: InputStepExecution (jenkinsci/pipeline-input-step-plugin) has no time limit of its own.
* `lock`: LockStep/LockStepExecution (jenkinsci/lockable-resources-plugin) run the body holding the
  resource and release it however the body ends.
* `milestone`: MilestoneStepExecution (jenkinsci/pipeline-milestone-step-plugin): explicit ordinals
  must grow within a build; a build is cancelled at a milestone a newer build already passed.
* Declarative: ModelInterpreter (jenkinsci/pipeline-model-definition-plugin) wraps every stage in
  the pipeline's options, and in a stage runs `when` (beforeOptions) -> options -> `input` -> agent.
* `publishHTML`: PublishHTMLStepExecution and HtmlPublisher.publishReports
  (jenkinsci/htmlpublisher-plugin): a missing report directory sets the build to FAILURE unless
  `allowMissing`, and the step itself returns normally; no target fails the step.

The stub has a clock instead of time (STUB_APPROVAL_MINUTES, STUB_SH_MINUTES, STUB_LOCK_MINUTES):
it cannot know how long approvers, steps or other builds take, nor which other builds of a job
run at the same time; STUB_NEWER_MILESTONE stands in for "a newer build passed milestone N".
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.jenkins.extract import JenkinsEvalError, Run, evaluate_jenkinsfile, evaluate_runs

pytestmark = pytest.mark.usefixtures("groovy_runtime")


def events(script: str, **env: str) -> list[dict[str, Any]]:
    return evaluate_jenkinsfile(script, env=env).events


def failure(script: str, **env: str) -> JenkinsEvalError:
    with pytest.raises(JenkinsEvalError) as info:
        evaluate_jenkinsfile(script, env=env)
    return info.value


def kinds(evts: list[dict[str, Any]], *wanted: str) -> list[dict[str, Any]]:
    return [e for e in evts if e["kind"] in wanted]


APPROVAL = """
timeout(time: 2, unit: 'HOURS') {
    input(message: 'Deploy?', ok: 'Deploy')
}
sh 'deploy'
"""


def test_a_timeout_ends_an_input_that_waits_longer() -> None:
    error = failure(APPROVAL, STUB_APPROVAL_MINUTES="121")
    assert "Timeout has been exceeded (120 minutes)" in str(error)
    assert not kinds(error.events, "sh", "approved")


def test_an_input_answered_in_time_proceeds_and_records_its_limits() -> None:
    evts = events(APPROVAL, STUB_APPROVAL_MINUTES="119")
    [ask] = kinds(evts, "input")
    assert ask["timeouts"] == [120] and ask["locks"] == []
    assert [e["kind"] for e in kinds(evts, "approved", "sh")] == ["approved", "sh"]


def test_an_input_has_no_time_limit_of_its_own() -> None:
    a_month = str(30 * 24 * 60)
    evts = events("input(message: 'Deploy?')\nsh 'deploy'", STUB_APPROVAL_MINUTES=a_month)
    assert kinds(evts, "sh")


def test_nested_timeouts_all_keep_counting() -> None:
    script = """
timeout(time: 10) {
    sh 'build'
    timeout(time: 60) { sh 'test' }
}
"""
    error = failure(script, STUB_SH_MINUTES="6")
    assert "(10 minutes)" in str(error)  # the outer limit fired during the inner block
    assert [e["script"] for e in kinds(error.events, "sh")] == ["build", "test"]


def test_a_rejected_input_is_an_interruption_that_catch_error_lets_through() -> None:
    script = """
catchError(buildResult: 'FAILURE', stageResult: 'FAILURE', catchInterruptions: false) {
    input(message: 'Deploy?')
}
"""
    assert "Rejected by the approver" in str(failure(script, STUB_APPROVAL="abort"))


def test_timeout_refuses_what_it_does_not_emulate() -> None:
    assert "activity: true" in str(failure("timeout(time: 5, activity: true) { sh 'x' }"))
    assert "unknown timeout argument 'units'" in str(failure("timeout(time: 5, units: 'X') { }"))


def test_lock_holds_the_resource_around_its_body_only_and_releases_it_on_failure() -> None:
    script = """
lock(resource: ' deploy-prod ') {
    sh 'deploy'
}
sh 'after'
lock(resource: 'deploy-prod') {
    sh 'fail here'
}
"""
    error = failure(script, STUB_FAIL_SH="fail here")
    assert [(e["script"], e["locks"]) for e in kinds(error.events, "sh")] == [
        ("deploy", ["deploy-prod"]), ("after", []), ("fail here", ["deploy-prod"])]  # fmt: skip
    assert [e["kind"] for e in kinds(error.events, "lock", "unlock")] == ["lock", "unlock"] * 2


def test_waiting_for_a_lock_counts_against_an_enclosing_timeout_only() -> None:
    inside = "timeout(time: 30) { lock(resource: 'r') { sh 'deploy' } }"
    outside = "lock(resource: 'r') { timeout(time: 30) { sh 'deploy' } }"
    assert "Timeout has been exceeded" in str(failure(inside, STUB_LOCK_MINUTES="45"))
    assert kinds(events(outside, STUB_LOCK_MINUTES="45"), "sh")


def test_lock_refuses_what_it_does_not_emulate() -> None:
    assert "only lock(resource: NAME)" in str(failure("lock(label: 'printers') { }"))
    assert "unknown lock argument 'resources'" in str(failure("lock(resources: 'x') { }"))


def test_explicit_milestone_ordinals_must_grow_within_a_build() -> None:
    evts = events("milestone(ordinal: 5)\nmilestone(label: 'next')\nmilestone(ordinal: 9)")
    assert [e["ordinal"] for e in kinds(evts, "milestone")] == [5, 6, 9]
    # passing the same explicit ordinal again (a retried block holding it) fails the build
    error = failure("retry(2) { milestone(ordinal: 1); sh 'flaky' }", STUB_FAIL_SH="flaky")
    assert "Invalid ordinal 1, as the previous one was 1" in str(error)


def test_a_build_is_superseded_at_a_milestone_a_newer_build_passed() -> None:
    script = "milestone(ordinal: 1)\nsh 'staging'\nmilestone(ordinal: 3)\nsh 'production'"
    # a newer build behind this one (it passed only 0) does not stop it
    assert [e["script"] for e in kinds(events(script, STUB_NEWER_MILESTONE="0"), "sh")] == [
        "staging", "production"]  # fmt: skip
    error = failure(script, STUB_NEWER_MILESTONE="3")
    assert "Superseded by a newer build" in str(error)
    assert not kinds(error.events, "sh")  # the newer build passed 3, so 1 too: stopped there


def test_the_builds_a_milestone_cancels_follow_upstreams_rule() -> None:
    """MilestoneStepExecution.getBuildsToCancel: older builds behind go, one ahead stays."""
    script = """
def cancel = { int build, Integer ordinal, Map milestones ->
    echo(JenkinsStub.buildsToCancel(build, ordinal, milestones).toString())
}
cancel(3, 2, [1: null, 2: 1, 3: 2])   // #3 passes 2: #1 (none yet) and #2 (at 1) are behind
cancel(1, 2, [1: 2, 2: 2])            // #1 reaches 2 that the newer #2 passed: #1 itself goes
cancel(2, 2, [1: 3, 2: 2])            // #1 is ahead of #2: nothing to cancel
cancel(2, null, [1: 1, 2: null])      // a build that just started cancels nothing older
"""
    messages = [e["message"] for e in kinds(events(script), "echo")]
    assert messages == ["[1:3, 2:3]", "[1:2]", "[:]", "[:]"]


DECLARATIVE = """
pipeline {
    agent none
    options { timeout(time: 60, unit: 'MINUTES') }
    stages {
        stage('Approve') {
            options { timeout(time: 2, unit: 'DAYS') }
            input { message 'Deploy?' }
            steps { echo 'approved' }
        }
        stage('Deploy') {
            when { beforeOptions true; expression { env.DEPLOY == 'yes' } }
            options { lock(resource: 'prod') }
            steps { sh 'deploy' }
        }
        stage('After') {
            when { expression { env.DEPLOY == 'yes' } }
            options { lock(resource: 'prod') }
            steps { sh 'after' }
        }
    }
}
"""


def test_a_pipeline_timeout_wraps_every_stage_and_a_stage_timeout_its_input() -> None:
    [ask] = kinds(events(DECLARATIVE, DEPLOY="yes"), "input")
    assert ask["timeouts"] == [60, 2 * 24 * 60]  # outermost first
    error = failure(DECLARATIVE, STUB_APPROVAL_MINUTES="61")
    assert "(60 minutes)" in str(error)


def test_when_before_options_skips_a_stage_without_entering_its_options() -> None:
    evts = events(DECLARATIVE, DEPLOY="no")
    # 'Deploy' (beforeOptions) never takes the lock; 'After' takes it, then finds `when` false
    assert [(e["kind"], e["stage"]) for e in kinds(evts, "lock", "skip")] == [
        ("skip", "Deploy"), ("lock", "After"), ("skip", "After")]  # fmt: skip


def test_a_failed_stage_skips_every_later_stage_and_ends_the_build() -> None:
    error = failure(DECLARATIVE, DEPLOY="yes", STUB_APPROVAL="abort")
    assert [(e["kind"], e["stage"]) for e in kinds(error.events, "stage-failed", "skip")] == [
        ("stage-failed", None), ("skip", "Deploy"), ("skip", "After")]  # fmt: skip
    [failed] = kinds(error.events, "stage-failed")
    assert (failed["name"], failed["cause"]) == ("Approve", "rejected")
    assert not kinds(error.events, "sh")


PUBLISH = """
publishHTML(target: env.NO_TARGET ? null : [reportDir: 'out/report', reportFiles: 'index.html',
    reportName: 'lepton-ci report', allowMissing: env.ALLOW_MISSING == 'yes'])
echo "result ${currentBuild.currentResult}"
if (fileExists('out/report/summary.txt')) {
    currentBuild.description = readFile('out/report/summary.txt').trim()
}
echo "description ${currentBuild.description}"
"""


def test_publish_html_fails_the_build_on_a_missing_report_unless_allowed() -> None:
    report = "out/report/index.html,out/report/summary.txt"
    cases = {
        "present": {"STUB_FILES": report},
        "missing": {},
        "allowed": {"ALLOW_MISSING": "yes"},
        "no target": {"NO_TARGET": "1"},
    }
    runs = [Run(env=tuple(env.items())) for env in cases.values()]
    results = dict(zip(cases, evaluate_runs(PUBLISH, runs), strict=True))

    def said(name: str) -> list[str]:
        result = results[name]
        assert not isinstance(result, JenkinsEvalError), result
        return [e["message"] for e in result.of_kind("echo")]

    assert said("present") == ["result SUCCESS", "description contents of out/report/summary.txt"]
    present = results["present"]
    assert not isinstance(present, JenkinsEvalError)
    [published] = present.of_kind("publishHTML")
    assert published["published"] is True
    assert published["target"]["reportDir"] == "out/report"
    [described] = present.of_kind("description")
    assert described["description"] == "contents of out/report/summary.txt"
    # the step returns normally either way: the build is FAILURE, later steps still run
    assert said("missing") == ["result FAILURE", "description null"]
    assert said("allowed") == ["result SUCCESS", "description null"]
    no_target = results["no target"]
    assert isinstance(no_target, JenkinsEvalError)
    assert str(no_target) == "Cannot publish the report. Target is not specified"
