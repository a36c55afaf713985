"""The stub's `catchError` and `retry`, checked against what the real steps do.

Upstream: `CatchErrorStep.Execution.Callback.onFailure` (jenkinsci/workflow-basic-steps-plugin,
src/main/java/org/jenkinsci/plugins/workflow/steps/CatchErrorStep.java) catches every failure of
its body; with `catchInterruptions: false` it rethrows only a FlowInterruptedException whose
`isActualInterruption()` is true. The one ExecutorStepExecution
(jenkinsci/workflow-durable-task-step) raises for a lost agent has `actualInterruption` false
(`new FlowInterruptedException(Result.ABORTED, false, new RemovedNodeCause())`), so catchError
swallows a lost agent either way. A caught interruption sets its own result (ABORTED). `retry`'s
`agent()` condition (AgentErrorCondition.java) matches that exception; a failing `sh` raises
`hudson.AbortException`, which it never matches.
The stub cannot know which interruptions a real controller raises for a given outage (how long
it waits for a disconnected agent, whether a Kubernetes pod deletion is seen): it models a lost
agent as one interruption during the first `sh` of the job named by STUB_AGENT_LOST.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.jenkins.extract import JenkinsEvalError, evaluate_jenkinsfile

pytestmark = pytest.mark.usefixtures("groovy_runtime")


def run(catch_args: str, **env: str) -> list[dict[str, Any]]:
    script = f"""
withEnv(['LEPTON_JOB=train']) {{
    retry(count: 2, conditions: [agent(), nonresumable()]) {{
        catchError({catch_args}) {{
            sh 'lepton-ci train'
        }}
    }}
}}
"""
    return evaluate_jenkinsfile(script, env=env).events


def kinds(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == kind]


def test_default_catch_error_swallows_a_lost_agent_so_retry_never_sees_it() -> None:
    events = run("buildResult: 'FAILURE', stageResult: 'FAILURE'", STUB_AGENT_LOST="train")
    assert not kinds(events, "retrying")
    [caught] = kinds(events, "caught")
    assert (caught["buildResult"], caught["stageResult"]) == ("ABORTED", "ABORTED")
    assert len(kinds(events, "sh")) == 1


def test_catch_interruptions_false_still_swallows_a_lost_agent() -> None:
    """A lost agent is not an actual interruption: catchError catches it, retry never sees it."""
    args = "buildResult: 'FAILURE', stageResult: 'FAILURE', catchInterruptions: false"
    events = run(args, STUB_AGENT_LOST="train")
    assert not kinds(events, "retrying")
    [caught] = kinds(events, "caught")
    assert (caught["cause"], caught["buildResult"]) == ("agent", "ABORTED")


def test_catch_interruptions_false_lets_an_exceeded_timeout_through() -> None:
    script = """
catchError(buildResult: 'FAILURE', stageResult: 'FAILURE', catchInterruptions: false) {
    timeout(time: 5, unit: 'MINUTES') {
        withEnv(['STUB_SH_MINUTES=10']) { sh 'lepton-ci train' }
    }
}
"""
    with pytest.raises(JenkinsEvalError, match="Timeout has been exceeded") as stopped:
        evaluate_jenkinsfile(script)
    assert not kinds(stopped.value.events, "caught")


RETRY_OUTSIDE = """
withEnv(['LEPTON_JOB=train']) {
    retry(count: 2, conditions: [agent(), nonresumable()]) {
        try {
            sh 'lepton-ci train'
        } catch (hudson.AbortException failure) {
            catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') { throw failure }
        }
    }
}
"""


def test_a_lost_agent_is_no_abort_exception_so_it_reaches_retry() -> None:
    events = evaluate_jenkinsfile(RETRY_OUTSIDE, env={"STUB_AGENT_LOST": "train"}).events
    assert [e["attempt"] for e in kinds(events, "retrying")] == [2]
    assert len(kinds(events, "sh")) == 2 and not kinds(events, "caught")


def test_a_failing_sh_is_an_abort_exception_caught_and_never_retried() -> None:
    events = evaluate_jenkinsfile(RETRY_OUTSIDE, env={"STUB_FAIL_SH": "lepton-ci train"}).events
    [caught] = kinds(events, "caught")
    assert (caught["cause"], caught["buildResult"], caught["stageResult"]) == (
        "step",
        "FAILURE",
        "FAILURE",
    )
    assert not kinds(events, "retrying") and len(kinds(events, "sh")) == 1


def test_a_failing_step_is_caught_with_the_requested_results_and_not_retried() -> None:
    args = "buildResult: 'FAILURE', stageResult: 'FAILURE', catchInterruptions: false"
    events = run(args, STUB_FAIL_SH="lepton-ci train")
    [caught] = kinds(events, "caught")
    assert (caught["buildResult"], caught["stageResult"]) == ("FAILURE", "FAILURE")
    assert not kinds(events, "retrying")


def test_catch_error_defaults_are_upstreams_build_failure_stage_success() -> None:
    [caught] = kinds(run("[:]", STUB_FAIL_SH="lepton-ci train"), "caught")
    assert (caught["buildResult"], caught["stageResult"]) == ("FAILURE", "SUCCESS")


def test_catch_error_refuses_arguments_the_step_does_not_have() -> None:
    with pytest.raises(JenkinsEvalError, match="unknown catchError argument 'catchInterrupts'"):
        run("catchInterrupts: false")


def test_a_caught_failure_makes_the_build_result_failure_for_later_conditions() -> None:
    script = """
catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') { sh 'lepton-ci train' }
echo currentBuild.currentResult
"""
    events = evaluate_jenkinsfile(script, env={"STUB_FAIL_SH": "lepton-ci train"}).events
    assert [e["message"] for e in kinds(events, "echo")] == ["FAILURE"]


def test_unstash_of_a_name_never_stashed_fails_like_jenkins() -> None:
    with pytest.raises(JenkinsEvalError, match=r"No such saved stash .lepton-evaluate."):
        evaluate_jenkinsfile("unstash 'lepton-evaluate'")
