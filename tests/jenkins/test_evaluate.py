"""What the generated Jenkinsfiles do, judged by evaluating them with real Groovy (stub DSL).

Both styles are evaluated: the library style loads jenkins/vars and jenkins/src, so these tests
exercise the shared library's own logic too.
"""

from __future__ import annotations

import pytest

from lepton_ci.pipeline.model import shell_line
from tests.jenkins.conftest import Rendered, rendered
from tests.jenkins.extract import Evaluation

MAINLINE = {"register", "image-build", "image-push", "deploy-staging", "deploy-production"}
KEPT = ("sh", "stash", "unstash", "input", "junit", "archiveArtifacts", "withCredentials", "retry",
        "publishHTML", "description")  # fmt: skip


def jobs_run(evaluation: Evaluation) -> list[str]:
    seen: list[str] = []
    for event in evaluation.of_kind("sh"):
        if event["job"] not in seen:
            seen.append(event["job"])
    return seen


def test_default_branch_runs_every_model_command_in_order(any_rendered: Rendered) -> None:
    r = any_rendered
    evaluation = r.evaluate(branch=r.pipeline.default_branch)
    got = [(e["job"], e["script"]) for e in evaluation.of_kind("sh")]
    assert got == [(job, shell_line(cmd)) for job, cmd in r.pipeline.command_sequence()]


@pytest.mark.parametrize(
    ("branch", "trigger"), [("feature/faster-cnn", "push"), ("feature/faster-cnn", "merge_request"),
                            ("main", "merge_request")]
)  # fmt: skip
def test_branches_and_merge_requests_only_train_evaluate_and_report(
    full: Rendered, branch: str, trigger: str
) -> None:
    evaluation = full.evaluate(branch=branch, trigger=trigger)
    assert jobs_run(evaluation) == ["train", "evaluate", "metrics-push", "report"]
    assert evaluation.of_kind("input") == []


def test_scheduled_retraining_runs_the_whole_path(full: Rendered) -> None:
    evaluation = full.evaluate(branch="main", trigger="schedule")
    assert set(jobs_run(evaluation)) >= MAINLINE


def test_retraining_cron_is_armed_on_the_default_branch_only(full: Rendered) -> None:
    [main] = full.evaluate(branch="main").of_kind("trigger")
    [feature] = full.evaluate(branch="feature/faster-cnn").of_kind("trigger")
    assert main["args"] == ["TZ=UTC\n0 3 * * 1"]
    assert feature["args"] == [""]


def test_production_waits_for_approval_before_taking_an_agent(full: Rendered) -> None:
    events = full.evaluate(branch="main").events
    [ask] = [e for e in events if e["kind"] == "input"]
    assert ask["job"] == "deploy-production"
    assert ask["message"] == "Deploy to production?" and ask["submitter"] == "alice,ops-team"
    later = events[events.index(ask) + 1 :]
    first_agent = next(
        e for e in later if e["kind"] in ("stage", "node") and e["job"] == ask["job"]
    )
    first_sh = next(e for e in later if e["kind"] == "sh" and e["job"] == ask["job"])
    assert later.index(first_agent) < later.index(first_sh)
    assert not any(
        e["kind"] == "sh" and e["job"] == ask["job"] for e in events[: events.index(ask)]
    )


def test_after_a_failure_only_the_metrics_push_and_the_report_still_run(full: Rendered) -> None:
    evaluation = full.evaluate(branch="main", STUB_RESULT="FAILURE")
    assert jobs_run(evaluation) == ["metrics-push", "report"]


REPORT_FILES = ".lepton/run/report/page.html,.lepton/run/report/summary.txt"


def test_a_failed_gate_is_still_reported_the_html_published_and_the_summary_the_description(
    full: Rendered,
) -> None:
    evaluation = full.evaluate(STUB_FAIL_SH="lepton-ci evaluate", STUB_FILES=REPORT_FILES)
    assert jobs_run(evaluation) == ["train", "evaluate", "metrics-push", "report"]
    report = [e for e in evaluation.events if e["job"] == "report" and e["kind"] in KEPT]
    assert [e["name"] for e in report if e["kind"] == "unstash"] == ["lepton-train",
                                                                     "lepton-evaluate"]  # fmt: skip
    assert [e["script"] for e in report if e["kind"] == "sh"][-1] == "lepton-ci report --publish"
    kinds = [e["kind"] for e in report]
    assert kinds[-2:] == ["publishHTML", "description"]  # after the step, whatever it did
    assert report[-2]["target"] == {
        "reportDir": ".lepton/run/report", "reportFiles": "page.html",  # Jenkins' CSP: no data:
        "reportName": "lepton-ci report", "keepAll": True, "alwaysLinkToLastBuild": True,
        "allowMissing": True,
    }  # fmt: skip
    assert report[-2]["published"] is True
    assert report[-1]["description"] == "contents of .lepton/run/report/summary.txt"


def test_a_report_step_that_wrote_nothing_fails_nothing_and_describes_nothing(
    full: Rendered,
) -> None:
    evaluation = full.evaluate()  # the stub's workspace holds no report
    [publish] = evaluation.of_kind("publishHTML")
    assert publish["job"] == "report" and publish["published"] is False
    assert evaluation.of_kind("description") == []
    assert [e["exists"] for e in evaluation.of_kind("fileExists")] == [False]


def test_kill_switch_skips_a_step(full: Rendered) -> None:
    evaluation = full.evaluate(branch="main", LEPTON_DEPLOY_DISABLED="1")
    assert jobs_run(evaluation) == ["train", "evaluate", "register", "image-build", "image-push",
                                    "metrics-push", "report"]  # fmt: skip


def test_a_switch_set_to_false_disables_nothing(full: Rendered) -> None:
    # a Boolean build parameter reaches the build as the string "false", which Groovy finds truthy
    evaluation = full.evaluate(branch="main", LEPTON_TRAIN_DISABLED="false")
    assert jobs_run(evaluation) == jobs_run(full.evaluate(branch="main"))
    assert "train" in jobs_run(evaluation)


def test_a_disabled_step_takes_the_steps_that_need_it_along(full: Rendered) -> None:
    evaluation = full.evaluate(branch="main", LEPTON_REGISTER_DISABLED="Yes")
    assert jobs_run(evaluation) == ["train", "evaluate", "metrics-push", "report"]


def test_evaluate_publishes_junit_before_handing_on_its_results(full: Rendered) -> None:
    events = [e for e in full.evaluate().events if e["job"] == "evaluate" and e["kind"] in KEPT]
    kinds = [e["kind"] for e in events]
    assert kinds.index("junit") > max(i for i, k in enumerate(kinds) if k == "sh")
    assert kinds.index("junit") < kinds.index("stash")
    [junit] = [e for e in events if e["kind"] == "junit"]
    assert junit["testResults"] == ".lepton/run/evaluate/junit.xml"


def test_secrets_reach_commands_only_as_bound_variables(full: Rendered) -> None:
    pushes = [e for e in full.evaluate().of_kind("sh") if e["job"] == "metrics-push"]
    assert pushes[-1]["credentials"] == ["pushgateway-login"]
    assert pushes[-1]["env"]["LEPTON_PUSHGATEWAY_PASSWORD"] == "<secret pushgateway-login>"
    assert all("PASSWORD" not in e["script"] for e in full.evaluate().of_kind("sh"))
    setup = [e for e in pushes if "venv" in e["script"]]
    assert setup and all(e["credentials"] == [] for e in setup)


def test_the_venv_is_on_path_for_the_steps(full: Rendered) -> None:
    [train] = [e for e in full.evaluate().of_kind("sh") if e["script"] == "lepton-ci train"]
    assert train["path"].startswith("/var/jenkins/workspace/model/.lepton/venv/bin:")
    assert train["env"]["LEPTON_PROJECT"] == "Digits CNN"


def test_kubernetes_deploys_run_in_their_image_with_the_kubeconfig() -> None:
    for style in ("standalone", "library"):
        events = rendered("kubernetes", style).evaluate(branch="trunk").events
        deploys = [e for e in events if e["kind"] == "sh" and e["job"] == "deploy-prod"]
        assert deploys[0]["script"] == "lepton-ci deploy --env prod --spec ml/lepton.yaml"
        assert deploys[0]["credentials"] == ["kubeconfig-prod"]
        assert any(
            e["job"] == "deploy-prod" and e["kind"] in ("stage", "docker")
            and "bitnami/kubectl:1.30" in str(e.get("agent", e.get("image")))
            for e in events
        )  # fmt: skip


@pytest.mark.parametrize("case", ["full", "kubernetes", "minimal"])
@pytest.mark.parametrize(
    ("branch", "trigger"), [("main", "push"), ("main", "schedule"), ("feature/faster-cnn", "push")]
)
def test_library_does_what_the_standalone_file_does(case: str, branch: str, trigger: str) -> None:
    """Same steps, same order, same stashes, approvals and credentials, in both styles."""

    def steps(evaluation: Evaluation) -> list[tuple[str, dict[str, object]]]:
        return [
            (e["job"], {k: v for k, v in e.items() if k not in ("stage", "path")})
            for e in evaluation.events
            if e["kind"] in KEPT
        ]

    default = rendered(case, "standalone").pipeline.default_branch
    branch = default if branch == "main" else branch
    standalone = steps(rendered(case, "standalone").evaluate(branch=branch, trigger=trigger))
    library = steps(rendered(case, "library").evaluate(branch=branch, trigger=trigger))
    assert library == standalone


def test_each_stage_installs_its_own_extras_with_pips_cache_on_the_agent(full: Rendered) -> None:
    sh = full.evaluate().of_kind("sh")
    pips = {e["job"]: e for e in sh if " -m pip install " in e["script"]}
    assert "'lepton-ci[docker]==" in pips["image-build"]["script"]
    assert "'lepton-ci[train]==" in pips["train"]["script"]
    cache = "/var/jenkins/workspace/model@tmp/lepton-pip-cache"
    assert {e["env"].get("PIP_CACHE_DIR") for e in pips.values()} == {cache}
    assert not [
        e for e in sh if e["script"].startswith("lepton-ci") and "PIP_CACHE_DIR" in e["env"]
    ]
    # a PIP_CACHE_DIR the agent sets wins
    agent = full.evaluate(PIP_CACHE_DIR="/srv/pip-cache").of_kind("sh")
    assert {e["env"].get("PIP_CACHE_DIR") for e in agent if " -m pip " in e["script"]} == {
        "/srv/pip-cache"
    }
