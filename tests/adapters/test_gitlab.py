"""`lepton-ci gitlab lint|trigger|schedule|report` against GitLab's REST API, errors included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.adapters.conftest import CANARIES
from tests.adapters.fakes.base import Reply
from tests.adapters.fakes.gitlab import FakeGitLab, PipelinePlan

GOOD_CI = """\
include:
  - component: gitlab.example.com/lepton-ci/lepton-ci/train@1.2.0
stages: [train]
train:
  stage: train
  script: [lepton-ci train]
"""


def write_metrics(repo: Path, accuracy: float, passed: bool = True) -> None:
    path = repo / ".lepton/run/evaluate/metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "model": "digits-cnn",
                "samples": 1000,
                "metrics": {
                    "accuracy": accuracy,
                    "macro_f1": 0.91,
                    "loss": 0.31,
                    "latency_p95_ms": 4.2,
                    "model_size_bytes": 184320,
                },
                "gates": [
                    {
                        "name": "accuracy >= 0.9",
                        "metric": "accuracy",
                        "op": ">=",
                        "threshold": 0.9,
                        "champion_delta": None,
                        "champion_value": None,
                        "bound": 0.9,
                        "value": accuracy,
                        "delta": None,
                        "ci_low": None,
                        "ci_high": None,
                        "passed": accuracy >= 0.9,
                        "skipped": None,
                    },
                    {
                        "name": "macro_f1 >= champion - 0.01",
                        "metric": "macro_f1",
                        "op": ">=",
                        "threshold": None,
                        "champion_delta": -0.01,
                        "champion_value": 0.93,
                        "bound": 0.92,
                        "value": 0.91,
                        "delta": -0.02,
                        "ci_low": -0.03,
                        "ci_high": -0.01,
                        "passed": passed,
                        "skipped": None,
                    },
                ],
                "passed": passed and accuracy >= 0.9,
                "champion": {"name": "digits-cnn", "version": 3},
            }
        )
    )


@pytest.fixture
def in_mr_job(monkeypatch: pytest.MonkeyPatch, gitlab: FakeGitLab) -> None:
    """The variables GitLab gives a merge-request pipeline job."""
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "7")
    monkeypatch.setenv("CI_COMMIT_SHORT_SHA", "abc1234")


# -- lint -----------------------------------------------------------------------------------


def test_lint_reports_resolved_includes(cli, gitlab: FakeGitLab, tmp_path: Path):
    ci = tmp_path / ".gitlab-ci.yml"
    ci.write_text(GOOD_CI)
    result = cli("gitlab", "lint", "--project", "ml/digits", str(ci))
    assert result.code == 0, result.output
    assert "valid (1 include(s) resolved)" in result.out
    assert "component: gitlab.example.com/lepton-ci/lepton-ci/train@1.2.0" in result.out
    (post,) = gitlab.seen("POST", r"/projects/ml%2Fdigits/ci/lint$")
    assert post.json()["content"] == GOOD_CI
    assert post.headers["private-token"] == CANARIES["GITLAB_TOKEN"]


def test_lint_errors_exit_3_with_gitlabs_words(cli, gitlab: FakeGitLab, tmp_path: Path):
    ci = tmp_path / ".gitlab-ci.yml"
    ci.write_text("train:\n  stage: train\n")
    result = cli("gitlab", "lint", "--project", "42", str(ci))
    assert result.code == 3
    assert "jobs:train config should implement the script:" in result.err


def test_unknown_project_is_named(cli, gitlab: FakeGitLab, tmp_path: Path):
    ci = tmp_path / ".gitlab-ci.yml"
    ci.write_text(GOOD_CI)
    result = cli("gitlab", "lint", "--project", "ml/nope", str(ci))
    assert result.code == 6
    assert "project 'ml/nope'" in result.err and "404 Project Not Found" in result.err


# -- trigger --------------------------------------------------------------------------------


def test_trigger_follows_jobs_and_exits_0_on_success(cli, gitlab: FakeGitLab):
    gitlab.plan = PipelinePlan(
        jobs=[
            ("train", "train", "success"),
            ("evaluate", "evaluate", "success"),
            ("register", "register", "success"),
        ]
    )
    result = cli(
        "gitlab",
        "trigger",
        "--project",
        "42",
        "--ref",
        "main",
        "--var",
        "LEPTON_RETRAIN=1",
        "--poll-interval",
        "0",
    )
    assert result.code == 0, result.output
    assert "train/train: running" in result.out and "register/register: success" in result.out
    assert result.out.rstrip().endswith("success")
    (create,) = gitlab.seen("POST", r"/projects/42/pipeline$")
    assert create.json() == {
        "ref": "main",
        "variables": [{"key": "LEPTON_RETRAIN", "value": "1", "variable_type": "env_var"}],
    }
    # three jobs with two per page: the job list was read page by page
    assert any(r.query.get("page") == ["2"] for r in gitlab.seen("GET", r"/jobs$"))


def test_trigger_exits_1_naming_the_failed_job(cli, gitlab: FakeGitLab):
    gitlab.plan = PipelinePlan(
        jobs=[("train", "train", "success"), ("evaluate", "evaluate", "failed")]
    )
    result = cli("gitlab", "trigger", "--project", "42", "--ref", "main", "--poll-interval", "0")
    assert result.code == 1, result.output
    assert "evaluate/evaluate: failed (script_failure)" in result.out
    assert "failed jobs: evaluate" in result.err


def test_trigger_with_the_job_token_uses_the_trigger_api(cli, gitlab: FakeGitLab, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", CANARIES["CI_JOB_TOKEN"])
    result = cli(
        "gitlab", "trigger", "--project", "42", "--ref", "main", "--var", "A=b", "--no-follow"
    )
    assert result.code == 0, result.output
    (post,) = gitlab.seen("POST", r"/trigger/pipeline$")
    assert post.json()["variables"] == {"A": "b"} and post.json()["ref"] == "main"
    assert CANARIES["CI_JOB_TOKEN"] not in post.path  # in the body, never in the URL


def test_read_only_token_gets_a_scope_hint(cli, gitlab: FakeGitLab):
    gitlab.read_only = True
    result = cli("gitlab", "trigger", "--project", "42", "--ref", "main")
    assert result.code == 6
    assert "HTTP 403" in result.err and "insufficient_scope" in result.err
    assert "`api` scope" in result.err


def test_bad_token_is_named(cli, gitlab: FakeGitLab, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-expired")
    result = cli("gitlab", "trigger", "--project", "42", "--ref", "main")
    assert result.code == 6
    assert "rejected GITLAB_TOKEN" in result.err and "401 Unauthorized" in result.err


def test_5xx_on_reads_is_retried(cli, gitlab: FakeGitLab):
    gitlab.fail(
        "GET", r"/pipelines/\d+$", Reply(500, {"message": "500 Internal Server Error"}), times=2
    )
    result = cli("gitlab", "trigger", "--project", "42", "--ref", "main", "--poll-interval", "0")
    assert result.code == 0, result.output


def test_500_on_create_is_not_retried_to_avoid_duplicate_pipelines(cli, gitlab: FakeGitLab):
    gitlab.fail("POST", r"/pipeline$", Reply(500, {"message": "500 Internal Server Error"}))
    result = cli("gitlab", "trigger", "--project", "42", "--ref", "main")
    assert result.code == 6
    assert len(gitlab.seen("POST", r"/pipeline$")) == 1
    assert "HTTP 500" in result.err


def test_503_on_create_is_retried_then_reported(cli, gitlab: FakeGitLab):
    gitlab.fail(
        "POST",
        r"/pipeline$",
        Reply(503, "<h1>502 Whoops, GitLab is taking too much time to respond.</h1>"),
        times=9,
    )
    result = cli("gitlab", "trigger", "--project", "42", "--ref", "main")
    assert result.code == 6
    assert len(gitlab.seen("POST", r"/pipeline$")) == 3
    assert "GitLab is taking too much time" in result.err and "gave up after 3" in result.err


# -- schedule -------------------------------------------------------------------------------


def test_schedule_is_created_then_left_alone(cli, gitlab: FakeGitLab, repo: Path):
    first = cli("gitlab", "schedule", "--project", "42")
    assert first.code == 0, first.output
    assert "created" in first.out
    (schedule,) = gitlab.schedules.values()
    assert schedule["cron"] == "0 3 * * 1" and schedule["cron_timezone"] == "Europe/Berlin"
    assert schedule["ref"] == "main" and schedule["description"] == "lepton-ci retrain digits-cnn"
    writes = len(gitlab.writes())
    second = cli("gitlab", "schedule", "--project", "42")
    assert "unchanged" in second.out
    assert len(gitlab.writes()) == writes


def test_schedule_found_across_pages_is_updated_in_place(cli, gitlab: FakeGitLab, repo: Path):
    for n in range(3):  # other schedules fill the first pages
        gitlab.schedules[n] = {
            "id": n,
            "description": f"nightly {n}",
            "ref": "main",
            "cron": "0 0 * * *",
            "cron_timezone": "UTC",
            "active": True,
        }
    gitlab.schedules[9] = {
        "id": 9,
        "description": "lepton-ci retrain digits-cnn",
        "ref": "main",
        "cron": "0 1 * * *",
        "cron_timezone": "UTC",
        "active": False,
    }
    result = cli("gitlab", "schedule", "--project", "42")
    assert result.code == 0, result.output
    assert "schedule 9: updated" in result.out
    (put,) = gitlab.seen("PUT", r"/pipeline_schedules/9$")
    assert put.json() == {"cron": "0 3 * * 1", "cron_timezone": "Europe/Berlin", "active": True}
    assert len(gitlab.schedules) == 4


# -- report ---------------------------------------------------------------------------------


def test_report_posts_one_note_and_updates_it(cli, gitlab: FakeGitLab, repo: Path, in_mr_job):  # type: ignore[no-untyped-def]
    gitlab.notes[7] += [{"id": n, "body": f"review comment {n}", "system": False} for n in range(3)]
    write_metrics(repo, accuracy=0.95)
    first = cli("gitlab", "report")
    assert first.code == 0, first.output
    assert "created" in first.out
    ours = [n for n in gitlab.notes[7] if "lepton-ci:report" in n["body"]]
    assert len(ours) == 1
    body = ours[0]["body"]
    assert body.startswith("<!-- lepton-ci:report model=digits-cnn -->")
    assert "| accuracy | 0.9500 |" in body
    assert "| macro\\_f1 | 0.9100 | 0.9300 | -0.0200 ▼ |" in body  # diff against the champion
    assert "commit abc1234" in body and "champion v3" in body
    # a later push: same note, new numbers
    write_metrics(repo, accuracy=0.85, passed=False)
    second = cli("gitlab", "report")
    assert second.code == 0, second.output
    assert f"note {ours[0]['id']} updated" in second.out
    assert len([n for n in gitlab.notes[7] if "lepton-ci:report" in n["body"]]) == 1
    assert "| accuracy | 0.8500 |" in ours[0]["body"] and "❌" in ours[0]["body"]
    assert len(gitlab.seen("POST", r"/notes$")) == 1
    # the notes list crossed pages to find our note behind the reviewers' comments
    assert any(r.query.get("page") == ["2"] for r in gitlab.seen("GET", r"/notes$"))
    third = cli("gitlab", "report")
    assert "unchanged" in third.out and len(gitlab.seen("PUT", r"/notes/")) == 1


def test_report_with_only_the_job_token_explains_what_to_set(
    cli,
    gitlab: FakeGitLab,
    repo: Path,
    in_mr_job,
    monkeypatch,  # type: ignore[no-untyped-def]
):
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.delenv("GITLAB_URL")
    monkeypatch.setenv("CI_SERVER_URL", gitlab.url)
    monkeypatch.setenv("CI_JOB_TOKEN", CANARIES["CI_JOB_TOKEN"])
    write_metrics(repo, accuracy=0.95)
    result = cli("gitlab", "report")
    assert result.code == 6
    assert "CI_JOB_TOKEN may not do this" in result.err and "GITLAB_TOKEN" in result.err
    assert gitlab.seen("GET", r"/notes$")[0].headers["job-token"] == CANARIES["CI_JOB_TOKEN"]


def test_report_on_an_unknown_merge_request(cli, gitlab: FakeGitLab, repo: Path, in_mr_job):  # type: ignore[no-untyped-def]
    write_metrics(repo, accuracy=0.95)
    result = cli("gitlab", "report", "--mr", "99")
    assert result.code == 6
    assert "merge request !99" in result.err


def test_report_without_metrics_says_to_evaluate_first(
    cli, gitlab: FakeGitLab, repo: Path, in_mr_job
):  # type: ignore[no-untyped-def]
    result = cli("gitlab", "report")
    assert result.code == 1
    assert "lepton-ci evaluate" in result.err


def test_report_compares_with_the_champion_from_the_registry(tmp_path, monkeypatch):
    """`gitlab report --dry-run` fills the champion column from the registry when one exists."""
    import json

    from click.testing import CliRunner

    from lepton_ci.cli import cli
    from lepton_ci.registry import open_registry
    from lepton_ci.spec import load_spec

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEPTON_REGISTRY", raising=False)
    (tmp_path / "lepton.yaml").write_text(
        "project: {name: m}\ntrain: {command: t}\nevaluate: {command: e}\n"
    )
    run = tmp_path / ".lepton/run/evaluate"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "model": "m",
                "samples": 10,
                "metrics": {"accuracy": 0.91, "loss": 0.3},
                "gates": [],
                "passed": True,
                "champion": None,
            }
        )
    )
    runner = CliRunner()
    before = runner.invoke(cli, ["gitlab", "report", "--dry-run"])
    assert before.exit_code == 0, before.output
    assert not (tmp_path / ".lepton/registry.db").exists()  # a report creates no registry
    with open_registry(load_spec("lepton.yaml"), tmp_path) as registry:
        version = registry.register(
            "m",
            manifest={},
            metrics={"accuracy": 0.95, "loss": 0.2},
            gates=[{"name": "g", "passed": True}],
            git_sha=None,
            data_hash=None,
            params={},
        )
        registry.set_alias("m", version.version, "champion", reason="test")
    after = runner.invoke(cli, ["gitlab", "report", "--dry-run"])
    assert after.exit_code == 0, after.output
    assert "0.95" in after.output and "0.95" not in before.output
