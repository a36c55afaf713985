"""The pipeline model carries the facts renderers used to guess from argv.

``Job.promotes``, ``Job.disabled_by`` and ``Pipeline.spec_args`` are set where the model is
built; these tests check them against what the jobs actually are, for every golden case.
"""

from __future__ import annotations

import pytest

from tests.golden.cases import CASES, Case

PROMOTE = ("models", "promote")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_job_promotes_exactly_when_it_runs_models_promote(case: Case) -> None:
    for job in case.pipeline.jobs:
        assert job.promotes == any(cmd[1:3] == PROMOTE for cmd in job.commands), job.name
    assert sum(job.promotes for job in case.pipeline.jobs) == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_lepton_command_ends_with_the_spec_args(case: Case) -> None:
    args = case.pipeline.spec_args
    assert args == (() if case.spec_path == "lepton.yaml" else ("--spec", case.spec_path))
    for job in case.pipeline.jobs:
        for cmd in job.commands:
            assert cmd[len(cmd) - len(args) :] == args


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_job_is_disabled_by_its_own_switch_and_those_of_all_it_needs(case: Case) -> None:
    pipeline = case.pipeline

    def upstream(name: str) -> set[str]:
        job = pipeline.job(name)
        return {job.kill_switch}.union(*(upstream(n) for n in job.needs))

    order = [job.kill_switch for job in pipeline.jobs]
    for job in pipeline.jobs:
        assert job.disabled_by[0] == job.kill_switch
        assert set(job.disabled_by) == upstream(job.name)
        rest = list(job.disabled_by[1:])
        assert rest == sorted(rest, key=order.index)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_schedule_on_another_branch_never_registers_or_deploys(case: Case) -> None:
    pipeline = case.pipeline
    main, other = pipeline.default_branch, "feature/nightly"
    on_main = [j.name for j in pipeline.jobs if j.rule.applies("schedule", main)]
    on_other = [j.name for j in pipeline.jobs if j.rule.applies("schedule", other)]
    pushed_other = [j.name for j in pipeline.jobs if j.rule.applies("push", other)]
    assert on_main == list(pipeline.stages)
    assert on_other == pushed_other  # what a push to that branch runs
    assert not {"register", "image-push"} & set(on_other)
    assert not any(name.startswith("deploy-") for name in on_other)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_metrics_carry_the_registered_version_where_register_runs(case: Case) -> None:
    metrics = case.pipeline.job("metrics-push")
    assert metrics.after == ("register",)
    assert "LEPTON_REGISTER_DISABLED" not in metrics.disabled_by  # an `after` is no `needs`
