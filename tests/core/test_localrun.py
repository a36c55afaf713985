"""`lepton-ci run` executes the pipeline model as CI would: order, rules, approvals, hand-offs,
`always` jobs after a failure, and the failing job's log tail."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from lepton_ci.errors import StepError
from lepton_ci.layout import LAYOUT
from lepton_ci.localrun import raise_for, run_pipeline, select_jobs
from lepton_ci.pipeline import Pipeline, build_pipeline
from lepton_ci.pipeline.model import Rule
from lepton_ci.spec import parse_spec

SPEC = """
project: {name: demo}
train: {command: python train.py}
evaluate: {command: python evaluate.py}
deploy:
  environments:
    - {name: staging}
    - {name: production, approval: true}
"""


def scripted(pipeline: Pipeline, scripts: dict[str, str]) -> Pipeline:
    """The same pipeline, each job's commands replaced by a Python one-liner that logs its name
    and creates its declared artifacts (unless the script says otherwise)."""
    jobs = []
    for job in pipeline.jobs:
        steps = ["import os"]
        for artifact in job.artifacts:
            if "." in Path(artifact).name:  # a file
                steps.append(f"os.makedirs({str(Path(artifact).parent)!r}, exist_ok=True)")
                steps.append(f"open({artifact!r}, 'w').close()")
            else:
                steps.append(f"os.makedirs({artifact!r}, exist_ok=True)")
        steps.append(f"open('order.txt', 'a').write({job.name!r} + '\\n')")
        code = scripts.get(job.name, ";".join(steps))
        jobs.append(dataclasses.replace(job, commands=((sys.executable, "-c", code),)))
    return dataclasses.replace(pipeline, jobs=tuple(jobs))


@pytest.fixture
def pipeline() -> Pipeline:
    return build_pipeline(parse_spec(SPEC))


def order(root: Path) -> list[str]:
    path = root / "order.txt"
    return path.read_text().split() if path.exists() else []


def test_default_branch_runs_every_job_in_model_order(pipeline: Pipeline, tmp_path: Path) -> None:
    result = run_pipeline(scripted(pipeline, {}), tmp_path, branch="main", approve=lambda job: True)
    assert order(tmp_path) == list(pipeline.stages)
    assert all(r.status == "passed" for r in result.results)


def test_feature_branches_only_train_evaluate_and_report(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    run_pipeline(scripted(pipeline, {}), tmp_path, branch="feature/x", approve=lambda job: True)
    assert order(tmp_path) == ["train", "evaluate", "metrics-push", "report"]


def test_without_approval_production_waits_and_the_run_says_so(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    result = run_pipeline(
        scripted(pipeline, {}), tmp_path, branch="main", approve=lambda job: False
    )
    assert "deploy-production" not in order(tmp_path)
    assert "deploy-staging" in order(tmp_path)
    with pytest.raises(StepError, match="deploy-production needs approval"):
        raise_for(result)


def test_a_failing_gate_stops_the_pipeline_but_metrics_are_still_pushed_and_reported(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fail = "import sys;print('accuracy 0.42 < 0.9');sys.exit(4)"
    result = run_pipeline(
        scripted(pipeline, {"evaluate": fail}), tmp_path, branch="main", approve=lambda job: True
    )
    assert order(tmp_path) == ["train", "metrics-push", "report"]
    assert result.failed is not None and result.failed.job == "evaluate"
    assert result.failed.exit_code == 4
    assert "accuracy 0.42 < 0.9" in capsys.readouterr().err  # the log tail is shown
    statuses = {r.job: r.status for r in result.results}
    assert statuses["register"] == "not-run" and statuses["deploy-staging"] == "not-run"


def test_a_job_that_does_not_produce_its_artifacts_fails(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    result = run_pipeline(
        scripted(pipeline, {"train": "print('forgot to save the model')"}),
        tmp_path,
        branch="main",
        approve=lambda job: True,
    )
    assert result.failed is not None and result.failed.job == "train"
    assert "declared artifacts missing: .lepton/run/train" in result.failed.reason


def test_from_until_and_only_select_stages(pipeline: Pipeline) -> None:
    def running(**kw: object) -> list[str]:
        plan = select_jobs(pipeline, trigger="push", branch="main", **kw)  # type: ignore[arg-type]
        return [job.name for job, skip in plan if skip is None]

    assert running(start="register", until="image-push") == [
        "register",
        "image-build",
        "image-push",
    ]
    assert running(only=("evaluate",)) == ["evaluate"]


def test_kill_switch_disables_a_step(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_DEPLOY_DISABLED", "1")
    plan = select_jobs(pipeline, trigger="schedule", branch="main")
    skipped = {job.name: skip for job, skip in plan if skip}
    assert set(skipped) == {"deploy-staging", "deploy-production"}
    assert skipped["deploy-staging"] == "disabled by LEPTON_DEPLOY_DISABLED"


@pytest.mark.parametrize("value", ["false", "0", "no", ""])
def test_a_switch_set_to_false_disables_nothing(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LEPTON_TRAIN_DISABLED", value)
    plan = select_jobs(pipeline, trigger="schedule", branch="main")
    assert [job.name for job, skip in plan if skip] == []


def test_a_disabled_step_takes_the_steps_that_need_it_along(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_REGISTER_DISABLED", "TRUE")
    plan = select_jobs(pipeline, trigger="schedule", branch="main")
    skipped = {job.name: skip for job, skip in plan if skip}
    assert set(skipped) == {
        "register", "image-build", "image-push", "deploy-staging", "deploy-production"
    }  # fmt: skip
    assert skipped["image-push"] == "disabled by LEPTON_REGISTER_DISABLED"


def test_a_job_whose_need_does_not_run_is_skipped_too(pipeline: Pipeline) -> None:
    """The needs-closure of ``Pipeline.skip_reason``: a job never runs without its inputs."""
    train = dataclasses.replace(pipeline.job("train"), rule=Rule(tags=None))  # no tag pipelines
    tagged = dataclasses.replace(pipeline, jobs=(train, *pipeline.jobs[1:]))
    skipped = {job.name: skip for job, skip in select_jobs(tagged, trigger="tag", branch="v1.0")}
    assert skipped["train"] == "rules: not on tag pipelines of v1.0"
    assert skipped["evaluate"] == "needs train, which does not run"
    assert all(skipped.values())


def test_unknown_stage_names_are_errors(pipeline: Pipeline) -> None:
    with pytest.raises(Exception, match="unknown stage 'trian'"):
        select_jobs(pipeline, trigger="push", branch="main", only=("trian",))


def test_release_tags_run_the_whole_path_other_tags_nothing(pipeline: Pipeline) -> None:
    def running(tag: str) -> list[str]:
        return [
            job.name for job, skip in select_jobs(pipeline, trigger="tag", branch=tag) if not skip
        ]

    assert running("v1.2.0") == list(pipeline.stages)
    assert running("experiment-3") == []


def test_run_exits_with_the_failing_steps_category(pipeline: Pipeline, tmp_path: Path) -> None:
    gate = "import sys;sys.exit(4)"
    result = run_pipeline(
        scripted(pipeline, {"evaluate": gate}), tmp_path, branch="main", approve=lambda job: True
    )
    with pytest.raises(StepError) as info:
        raise_for(result)
    assert info.value.exit_code == 4
    crash = run_pipeline(
        scripted(pipeline, {"train": "import sys;sys.exit(9)"}), tmp_path, branch="x", approve=bool
    )
    with pytest.raises(StepError) as info:
        raise_for(crash)
    assert info.value.exit_code == 1


def test_the_summary_names_the_report_the_report_job_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton_ci.localrun import summary_lines

    monkeypatch.chdir(tmp_path)
    page = tmp_path / LAYOUT.report_html
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    assert summary_lines({"report"}) == [f"report: {LAYOUT.report_html}"]
    # a report of an earlier run is not this run's
    assert summary_lines({"train", "evaluate"}) == []


def test_the_summary_names_the_endpoints_of_the_deploy_jobs_that_ran(tmp_path: Path) -> None:
    from lepton_ci.localrun import summary_lines
    from lepton_ci.run_dir import RunDir

    run = RunDir.at(tmp_path / "run")
    run.write_deploy_url("staging", "http://127.0.0.1:8081")
    run.write_deploy_url("production", "http://127.0.0.1:8082")
    assert summary_lines({"deploy-production"}, run) == [
        "endpoint (production): http://127.0.0.1:8082"
    ]
