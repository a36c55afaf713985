"""The stub's `env`, `params`, `withEnv`, `withCredentials`, `stash` and `when` conditions, checked
against what upstream does.

Upstream, as the stub's comments cite it:

* `env`: EnvActionImpl (jenkinsci/workflow-cps-plugin): values are strings, an unset variable is
  null, assigning stores `String.valueOf(value)`.
* parameters: BooleanParameterValue.buildEnvironment (jenkinsci/jenkins) puts "true"/"false" in
  the environment; ParamsVariable (jenkinsci/workflow-cps-plugin) keeps the typed value in `params`.
* `withEnv`: EnvStep (jenkinsci/workflow-basic-steps-plugin) and EnvVars.override (jenkins core):
  `PATH+X=dir` prepends, an empty value unsets, all for the block only.
* `withCredentials`: BindingStep and the usernamePassword/string/file bindings
  (jenkinsci/credentials-binding-plugin): variables for the block only.
* `stash`: StashStep and StashManager (jenkinsci/workflow-basic-steps-plugin, workflow-api-plugin).
* `when`: the conditions of jenkinsci/pipeline-model-definition-plugin (BranchConditional,
  TagConditional, ChangeRequestConditional, TriggeredByConditional, EnvironmentConditional,
  ExpressionConditional, allOf/anyOf/not) with their Comparator (GLOB is Ant's, case-insensitive).

What the stub cannot know, it takes from the run: the credential store (every ID binds a
placeholder), the workspace's files (STUB_FILES) and the build's causes (extract.causes: a real
controller may record others, e.g. BranchIndexingCause for a branch's first build).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from tests.jenkins.extract import JenkinsEvalError, Run, evaluate_jenkinsfile, evaluate_runs

pytestmark = pytest.mark.usefixtures("groovy_runtime")


def echoes(script: str, **env: str) -> list[Any]:
    return [e["message"] for e in evaluate_jenkinsfile(script, env=env).of_kind("echo")]


def test_env_values_are_strings_and_an_unset_variable_is_null() -> None:
    script = """
env.COUNT = 5
env.NOTHING = null
echo env.COUNT.getClass().simpleName + ' ' + env.COUNT
echo env.NOTHING
echo String.valueOf(env.NEVER_SET == null)
"""
    assert echoes(script) == ["String 5", "null", "true"]


def test_a_boolean_parameter_is_a_string_in_env_and_a_boolean_in_params() -> None:
    script = """
echo env.LEPTON_TRAIN_DISABLED.getClass().simpleName + ' ' + env.LEPTON_TRAIN_DISABLED
echo params.LEPTON_TRAIN_DISABLED.getClass().simpleName + ' ' + params.LEPTON_TRAIN_DISABLED
echo String.valueOf(env.LEPTON_TRAIN_DISABLED ? 'truthy' : 'falsy')
"""
    run = Run(params=(("LEPTON_TRAIN_DISABLED", False),))
    [result] = evaluate_runs(script, [run])
    assert not isinstance(result, JenkinsEvalError)
    # the string "false" is Groovy-true: a kill switch must compare values, never test truth
    assert [e["message"] for e in result.of_kind("echo")] == [
        "String false",
        "Boolean false",
        "truthy",
    ]


def test_with_env_prepends_path_unsets_empty_values_and_restores_after_the_block() -> None:
    script = """
withEnv(['PATH+VENV=/ws/.venv/bin', 'HOME=', 'MODE=ci']) {
    echo env.PATH
    echo String.valueOf(env.HOME)
    echo env.MODE
}
echo env.PATH + ' ' + env.HOME + ' ' + env.MODE
"""
    assert echoes(script, HOME="/home/jenkins") == [
        "/ws/.venv/bin:/usr/bin:/bin",
        "null",
        "ci",
        "/usr/bin:/bin /home/jenkins null",
    ]


def test_credentials_are_bound_for_the_block_only() -> None:
    script = """
withCredentials([usernamePassword(credentialsId: 'registry', usernameVariable: 'USER',
                                  passwordVariable: 'PASS'),
                 string(credentialsId: 'token', variable: 'TOKEN')]) {
    echo env.USER + ' ' + env.PASS + ' ' + env.TOKEN
}
echo env.USER + ' ' + env.PASS + ' ' + env.TOKEN
"""
    assert echoes(script, USER="jenkins") == [
        "<secret registry> <secret registry> <secret token>",
        "jenkins null null",
    ]


def test_a_binding_needs_every_argument_its_constructor_takes() -> None:
    with pytest.raises(JenkinsEvalError, match="takes exactly credentialsId, variable"):
        evaluate_jenkinsfile("withCredentials([file(credentialsId: 'kube')]) { sh 'true' }")


STASHES = """
stash name: 'report', includes: '.lepton/run/report/**'
stash name: 'empty', includes: 'nothing/**', allowEmpty: true
unstash 'report'
unstash 'empty'
stash name: 'missing', includes: 'nothing/**'
"""


def test_a_stash_that_takes_no_file_fails_unless_allowed_empty() -> None:
    with pytest.raises(JenkinsEvalError, match=r"No files included in stash .missing.") as info:
        evaluate_jenkinsfile(STASHES, env={"STUB_FILES": ".lepton/run/report/page.html"})
    assert [e["name"] for e in info.value.events if e["kind"] == "unstash"] == ["report", "empty"]


# ---- `when` ------------------------------------------------------------------------------------
CONDITIONS = {
    "branch main": "branch 'main'",
    "branch equals main": "branch pattern: 'main', comparator: 'EQUALS'",
    "branch feature/*": "branch 'feature/*'",
    "branch *": "branch '*'",
    "branch **": "branch '**'",
    "tag v*": "tag 'v*'",
    "tag regexp": "tag pattern: '^v.*$', comparator: 'REGEXP'",
    "building tag": "buildingTag()",
    "change request": "changeRequest()",
    "timer": "triggeredBy 'TimerTrigger'",
    "timer, any case prefix": "triggeredBy 'timer'",
    "Trigger": "triggeredBy 'Trigger'",
    "alice": "triggeredBy cause: 'UserIdCause', detail: 'alice'",
    "timer cause": "expression { currentBuild.getBuildCauses("
    "'hudson.triggers.TimerTrigger$TimerTriggerCause').size() == 1 }",
    "user cause": "expression { currentBuild.getBuildCauses('hudson.model.Cause$UserIdCause')"
    "*.shortDescription == ['UserIdCause:alice'] }",
    "CHANGE_ID": "expression { env.CHANGE_ID != null }",
    "DEPLOY=yes": "environment name: 'DEPLOY', value: 'yes'",
    "DEPLOY=YES any case": "environment name: 'DEPLOY', value: 'YES', ignoreCase: true",
    "UNSET is empty": "environment name: 'UNSET', value: ''",
    "expression 'false'": "expression { 'false' }",
    "expression ''": "expression { '' }",
    "all of": "allOf { branch 'main'; not { changeRequest() } }",
    "any of": "anyOf { branch 'nope'; buildingTag() }",
}
RUNS = {
    "main": Run("main"),
    "MAIN": Run("MAIN"),
    "feature": Run("feature/x"),
    "change request": Run("feature/x", "merge_request"),
    "schedule": Run("main", "schedule"),
    "v1.2.0": Run("v1.2.0", "tag"),
    "V1.2.0": Run("V1.2.0", "tag"),
    "exp-1": Run("exp-1", "tag"),
    "plain job": Run("main", job_kind="pipeline"),
    "plain job, local branch": Run("main", "push", (("GIT_LOCAL_BRANCH", "main"),), "pipeline"),
    "alice": Run("feature/x", causes=("UserIdCause:alice",)),
    "DEPLOY=Yes": Run("feature/x", env=(("DEPLOY", "Yes"),)),
}


@cache
def stages_run() -> dict[str, set[str]]:
    """Run name -> the conditions that held (each a stage of one pipeline, evaluated once)."""
    stages = "\n".join(
        f"stage({name!r}) {{ when {{ {cond} }}\n steps {{ echo 'ran' }} }}"
        for name, cond in CONDITIONS.items()
    )
    text = f"pipeline {{ agent any\n stages {{\n{stages}\n}} }}"
    out = {}
    for run, result in zip(RUNS, evaluate_runs(text, list(RUNS.values())), strict=True):
        assert not isinstance(result, JenkinsEvalError), result
        out[run] = {e["stage"] for e in result.of_kind("echo")}
    return out


def held(condition: str) -> set[str]:
    return {run for run, stages in stages_run().items() if condition in stages}


EVERY_BUILD = set(RUNS) - {"plain job"}  # a plain Pipeline job has no branch name
ONE_SEGMENT = EVERY_BUILD - {"feature", "alice", "DEPLOY=Yes"}  # no `/` in the branch name


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # GLOB is Ant's matchPath, case-insensitive: 'main' matches MAIN too
        ("branch main", {"main", "MAIN", "schedule", "plain job, local branch"}),
        ("branch equals main", {"main", "schedule", "plain job, local branch"}),
        # `*` stops at `/`; a change request's BRANCH_NAME is PR-1; a tag build's is the tag
        ("branch feature/*", {"feature", "alice", "DEPLOY=Yes"}),
        ("branch *", ONE_SEGMENT),
        ("branch **", EVERY_BUILD),
    ],
)
def test_branch_matches_branch_name_then_git_local_branch_with_ants_glob(
    condition: str, expected: set[str]
) -> None:
    assert held(condition) == expected


def test_tag_glob_ignores_case_regexp_does_not_and_building_tag_takes_any_tag() -> None:
    assert held("tag v*") == {"v1.2.0", "V1.2.0"}
    assert held("tag regexp") == {"v1.2.0"}
    assert held("building tag") == {"v1.2.0", "V1.2.0", "exp-1"}


def test_change_request_holds_in_change_request_builds_only() -> None:
    assert held("change request") == {"change request"}


def test_triggered_by_matches_the_start_of_a_cause_class_name_in_any_case() -> None:
    assert held("timer") == held("timer, any case prefix") == {"schedule"}
    assert held("Trigger") == set()  # TimerTriggerCause does not start with it
    assert held("alice") == {"alice"}


def test_build_causes_of_a_class_are_what_triggered_by_matches_and_change_id_a_change_request() -> (
    None
):
    """What leptonPipeline's `mainline` asks instead of `triggeredBy 'TimerTrigger'` and
    `changeRequest()`: currentBuild.getBuildCauses(className) and env.CHANGE_ID."""
    assert held("timer cause") == held("timer") == {"schedule"}
    assert held("user cause") == held("alice")
    assert held("CHANGE_ID") == held("change request")


def test_environment_compares_exactly_unless_told_to_ignore_case() -> None:
    assert held("DEPLOY=yes") == set()
    assert held("DEPLOY=YES any case") == {"DEPLOY=Yes"}
    assert held("UNSET is empty") == set(RUNS)


def test_expression_is_groovy_truth_so_the_string_false_holds() -> None:
    assert held("expression 'false'") == set(RUNS)
    assert held("expression ''") == set()


def test_all_of_and_any_of_combine_their_conditions() -> None:
    assert held("all of") == {"main", "MAIN", "schedule", "plain job, local branch"}
    assert held("any of") == {"v1.2.0", "V1.2.0", "exp-1"}


def test_before_agent_and_before_input_decide_before_the_agent_and_the_input() -> None:
    def stage(name: str, before: str) -> str:
        return f"""stage('{name}') {{
    agent {{ label 'gpu' }}
    when {{ {before}
        branch 'release' }}
    input {{ message 'Deploy?' }}
    steps {{ echo 'ran' }}
}}"""

    stages = [
        stage("late", ""),
        stage("agent", "beforeAgent true"),
        stage("input", "beforeInput true"),
    ]
    text = "pipeline { agent none\n stages {\n" + "\n".join(stages) + "\n} }"
    events = evaluate_jenkinsfile(text).events
    asked = [e["stage"] for e in events if e["kind"] == "input"]
    agents = [e["stage"] for e in events if e["kind"] == "stage" and e.get("agent")]
    assert asked == ["late", "agent"]  # beforeInput: no approval is asked for a skipped stage
    assert agents == ["late"]  # beforeAgent (and beforeInput): no agent is taken either
    assert [e["stage"] for e in events if e["kind"] == "skip"] == ["late", "agent", "input"]
