"""`ci.retry`: a stage whose agent went away reruns on a fresh one; a failing step never reruns.

Jenkins' ``retry(count: N, conditions: [agent(), nonresumable()])`` counts attempts, and with
conditions it retries only a lost agent or a build that could not resume (GitLab's
``runner_system_failure``). The stub implements those semantics: STUB_AGENT_LOST=<job> loses the
agent during the job's first ``sh``, STUB_FAIL_SH=<text> makes matching ``sh`` steps fail.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from lepton_ci.spec.loader import parse_spec
from tests.jenkins.conftest import SPECS, STYLES, Rendered, render
from tests.jenkins.extract import JenkinsEvalError

RETRY_OPTION = re.compile(r"retry\((.*)\)")


@cache
def with_retry(retry: int, style: str) -> Rendered:
    text = SPECS["full"].replace("ci: {credentials:", f"ci: {{retry: {retry}, credentials:")
    spec = parse_spec(text, f"retry-{retry}.yaml")
    pipeline, jenkinsfile = render(spec, style)
    assert pipeline.retry == retry
    return Rendered(f"retry-{retry}", style, spec, pipeline, jenkinsfile)


def train_runs(rendered: Rendered, **env: str) -> int:
    events = rendered.evaluate(**env).events
    return sum(1 for e in events if e["kind"] == "sh" and e["script"].startswith("lepton-ci train"))


@pytest.mark.parametrize("retry", [1, 2])
def test_every_stage_retries_only_a_lost_agent_counting_attempts(retry: int) -> None:
    r = with_retry(retry, "standalone")
    options = [m.group(1) for m in RETRY_OPTION.finditer(r.text)]
    assert options == [f"count: {retry + 1}, conditions: [agent(), nonresumable()]"] * len(
        r.pipeline.jobs
    )
    assert f"retry: {retry}," in with_retry(retry, "library").text


def test_retry_zero_renders_no_retry_at_all() -> None:
    assert "retry(" not in with_retry(0, "standalone").text
    assert "retry: 0," in with_retry(0, "library").text


@pytest.mark.parametrize("style", STYLES)
def test_each_agent_stage_is_wrapped_with_the_agent_conditions_only(
    style: str, groovy_runtime: None
) -> None:
    r = with_retry(2, style)
    events = r.evaluate().events
    retries = [e for e in events if e["kind"] == "retry"]
    ran = {e["job"] for e in events if e["kind"] == "sh"}
    assert {e["job"] for e in retries} == ran
    assert all((e["count"], e["conditions"]) == (3, ["agent", "nonresumable"]) for e in retries)


@pytest.mark.parametrize("style", STYLES)
def test_a_lost_agent_reruns_the_stage(style: str, groovy_runtime: None) -> None:
    r = with_retry(1, style)

    def train_steps(**env: str) -> list[str]:
        return [e["script"] for e in r.evaluate(**env).of_kind("sh") if e["job"] == "train"]

    normal = train_steps()
    # the agent goes away during the first step; the whole stage runs again on a new agent
    assert train_steps(STUB_AGENT_LOST="train") == normal[:1] + normal
    events = r.evaluate(STUB_AGENT_LOST="train").events
    assert [e["job"] for e in events if e["kind"] == "retrying"] == ["train"]


@pytest.mark.parametrize("style", STYLES)
def test_a_failing_step_is_not_retried(style: str, groovy_runtime: None) -> None:
    r = with_retry(2, style)
    events = r.evaluate(STUB_FAIL_SH="lepton-ci train").events
    assert train_runs(r, STUB_FAIL_SH="lepton-ci train") == 1
    assert not [e for e in events if e["kind"] == "retrying"]
    [caught] = [e for e in events if e["kind"] == "caught"]
    assert caught["job"] == "train" and caught["stageResult"] == "FAILURE"


@pytest.mark.parametrize("style", STYLES)
def test_without_retry_a_lost_agent_fails_the_build(style: str, groovy_runtime: None) -> None:
    r = with_retry(0, style)
    assert not [e for e in r.evaluate().events if e["kind"] == "retry"]
    with pytest.raises(JenkinsEvalError, match="Agent went away while running train"):
        r.evaluate(STUB_AGENT_LOST="train")


def test_the_stub_refuses_retry_conditions_jenkins_does_not_have(groovy_runtime: None) -> None:
    r = with_retry(1, "standalone")
    broken = r.text.replace("nonresumable()", "failure()", 1)
    bad = Rendered(r.case, r.style, r.spec, r.pipeline, broken)
    with pytest.raises(JenkinsEvalError, match="unknown retry condition"):
        bad.evaluate()


def test_the_stub_refuses_stage_options_jenkins_does_not_have(groovy_runtime: None) -> None:
    r = with_retry(1, "standalone")
    broken = r.text.replace("retry(count:", "retries(count:", 1)
    bad = Rendered(r.case, r.style, r.spec, r.pipeline, broken)
    with pytest.raises(JenkinsEvalError, match="'retries' is not an option of stage 'Train'"):
        bad.evaluate()


@pytest.mark.parametrize("style", STYLES)
def test_after_a_failed_train_only_the_always_stages_run_and_they_do_not_fail(
    style: str, groovy_runtime: None
) -> None:
    """The evaluate stash never appeared: the push and the report go on without it."""
    events = with_retry(1, style).evaluate(STUB_FAIL_SH="lepton-ci train").events
    assert {e["job"] for e in events if e["kind"] == "sh"} == {"train", "metrics-push", "report"}
    assert [e["job"] for e in events if e["kind"] == "caught"] == ["train"]
