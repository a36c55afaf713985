"""One set of rules: for every pipeline a platform can start (trigger x ref) and every kill-switch
value, the Jenkinsfile, the .gitlab-ci.yml and `lepton-ci run` run the jobs the pipeline model
says (``Pipeline.jobs_run``), in its order.

Each platform is judged by its own semantics, not by reading the model: the Jenkinsfile by the stub
DSL (declarative `when`, our shared library's conditions for the library style), the GitLab file by
gitlab-ci-local's `--list-json` (workflow and job `rules`, our components for the library style),
`lepton-ci run` by its job selection. The golden `full-*` cases are the pipelines judged.

A switch is on for true, 1 or yes in any case and off for anything else (false, 0, empty). What
each platform can start: Jenkins arms the retraining cron on the default branch only, so it has
no scheduled build of another branch; GitLab can schedule any branch. Each switch is set alone on
the default branch, the on-values taking turns (every stage tests its switches with the same
code), and every off-value is set for all switches at once (GitLab: in one build, taking turns);
`lepton-ci run` sees every value of every switch. A Jenkins build costs about 0.2 s, a
gitlab-ci-local call about 1.5 s: GitLab is spared the branch MAIN and the tag V1.2.0, whose
rules there are an exact `==` and a case-sensitive regex, where Jenkins' GLOB comparator ignores
case.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from lepton_ci.localrun import select_jobs
from lepton_ci.pipeline.model import Pipeline, Trigger
from lepton_ci.resources import data_dir
from tests.golden.cases import CASES, Case

pytestmark = pytest.mark.slow

STYLES = {"standalone": "full-standalone", "library": "full-library"}  # GitLab: components
SWITCH_ON = ("true", "1", "YES")
SWITCH_OFF = ("false", "0", "")
FEATURE = "feature/faster-cnn"


@dataclass(frozen=True)
class Build:
    """One pipeline: what started it, on which branch or tag, with which variables set."""

    trigger: Trigger
    ref: str
    env: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        switches = " ".join(f"{k}={v!r}" for k, v in self.env)
        return f"{self.trigger} {self.ref} {switches}".strip()


def refs(default: str) -> list[Build]:
    """Every trigger x ref a platform can start, without switches."""
    return [
        Build("push", default),
        Build("push", FEATURE),
        Build("push", default.upper()),  # a branch MAIN is not the default branch main
        Build("merge_request", FEATURE),
        Build("schedule", default),
        Build("schedule", FEATURE),  # GitLab only
        Build("tag", "v1.2.0"),  # a release tag (v*)
        Build("tag", "V1.2.0"),  # not one: release tags are case-sensitive
        Build("tag", "exp-1"),
    ]


def switches(pipeline: Pipeline) -> list[str]:
    return list(dict.fromkeys(job.kill_switch for job in pipeline.jobs))


def every_switch_value(pipeline: Pipeline) -> list[Build]:
    """The default-branch push with each switch at each value (off-values: all switches at once)."""
    default = pipeline.default_branch
    on = [Build("push", default, ((s, v),)) for s in switches(pipeline) for v in SWITCH_ON]
    off = [Build("push", default, tuple((s, v) for s in switches(pipeline))) for v in SWITCH_OFF]
    return on + off


def switch_turns(pipeline: Pipeline, *, one_off_build: bool = False) -> list[Build]:
    """Each switch on alone, the on-values taking turns; then every switch at each off-value
    (``one_off_build``: in one build, the off-values taking turns)."""
    default = pipeline.default_branch
    names = switches(pipeline)
    on = [Build("push", default, ((s, v),)) for s, v in zip(names, itertools.cycle(SWITCH_ON))]
    if one_off_build:
        return [*on, Build("push", default, tuple(zip(names, itertools.cycle(SWITCH_OFF))))]
    return on + [Build("push", default, tuple((s, v) for s in names)) for v in SWITCH_OFF]


def case(style: str) -> Case:
    return next(c for c in CASES if c.name == STYLES[style])


def model(pipeline: Pipeline, builds: list[Build]) -> dict[str, list[str]]:
    """The jobs the model runs for each build, in order."""
    return {
        str(b): [j.name for j in pipeline.jobs_run(b.trigger, b.ref, dict(b.env))] for b in builds
    }


# ---- Jenkins ---------------------------------------------------------------------------------
def jenkins(case: Case, builds: list[Build]) -> dict[str, list[str]]:
    """The jobs each build runs (those with a shell step), all builds in one JVM."""
    from tests.jenkins.extract import LIBRARY_DIR, JenkinsEvalError, Run, evaluate_runs

    text = case.expected_text("Jenkinsfile")
    assert text is not None
    runs = [Run(b.ref, b.trigger, b.env) for b in builds]
    library = LIBRARY_DIR if case.style == "library" else None
    out = {}
    for build, result in zip(builds, evaluate_runs(text, runs, library_dir=library), strict=True):
        assert not isinstance(result, JenkinsEvalError), (str(build), result)
        out[str(build)] = list(dict.fromkeys(e["job"] for e in result.of_kind("sh")))
    return out


def jenkins_can_start(build: Build, default: str) -> bool:
    return build.trigger != "schedule" or build.ref == default


@pytest.mark.parametrize("style", STYLES)
def test_the_jenkinsfile_runs_the_jobs_of_the_model(style: str) -> None:
    pipeline = case(style).pipeline
    default = pipeline.default_branch
    builds = [b for b in refs(default) if jenkins_can_start(b, default)] + switch_turns(pipeline)
    assert jenkins(case(style), builds) == model(pipeline, builds)


# ---- GitLab ----------------------------------------------------------------------------------
def gitlab_variables(build: Build) -> dict[str, str]:
    """The predefined variables GitLab sets for such a pipeline, and the switches."""
    if build.trigger == "merge_request":
        ref = {
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_COMMIT_BRANCH": "",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": build.ref,
        }
    elif build.trigger == "tag":
        ref = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": build.ref, "CI_COMMIT_BRANCH": ""}
    else:
        ref = {"CI_PIPELINE_SOURCE": build.trigger, "CI_COMMIT_BRANCH": build.ref}
    return ref | dict(build.env)


@pytest.mark.parametrize("style", STYLES)
def test_the_gitlab_file_runs_the_jobs_of_the_model(style: str, tmp_path: Path) -> None:
    from tests.gitlab.conftest import GitlabCiLocal

    pipeline = case(style).pipeline
    spared = {"MAIN", "V1.2.0"}
    builds = [b for b in refs(pipeline.default_branch) if b.ref not in spared]
    builds += switch_turns(pipeline, one_off_build=True)
    text = case(style).expected_text(".gitlab-ci.yml")
    assert text is not None
    gitlab = GitlabCiLocal(tmp_path / "repo", data_dir("gitlab"))
    gitlab.write(text, version=pipeline.lepton_version)
    got = {str(b): list(gitlab.jobs(gitlab_variables(b))) for b in builds}
    assert got == model(pipeline, builds)


# ---- lepton-ci run ---------------------------------------------------------------------------
def test_lepton_ci_run_selects_the_jobs_of_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for style in STYLES:
        pipeline = case(style).pipeline
        builds = refs(pipeline.default_branch) + every_switch_value(pipeline)
        got = {}
        for build in builds:
            with monkeypatch.context() as env:
                for name in switches(pipeline):
                    env.delenv(name, raising=False)
                for name, value in build.env:
                    env.setenv(name, value)
                plan = select_jobs(pipeline, trigger=build.trigger, branch=build.ref)
            got[str(build)] = [job.name for job, skipped in plan if skipped is None]
        assert got == model(pipeline, builds)


def test_the_builds_judged_tell_the_rules_apart() -> None:
    """Not a vacuous agreement: the builds lead the model to many different job lists."""
    pipeline = case("standalone").pipeline
    outcomes = model(pipeline, refs(pipeline.default_branch) + every_switch_value(pipeline))
    assert len({tuple(jobs) for jobs in outcomes.values()}) >= 8
    assert outcomes["push main"] == list(pipeline.stages)
    assert outcomes["tag exp-1"] == [] and outcomes["push MAIN"] == outcomes[f"push {FEATURE}"]
