"""Release tags on Jenkins: tag builds (multibranch "Discover tags") run what the model says.

A tag matching ``project.release_tags`` (a glob, default ``v*``) runs the whole path like the
default branch, production still behind its ``input``; any other tag builds nothing. Both
styles are evaluated with the stub, which sets ``TAG_NAME`` as Jenkins does for tag builds.
"""

from __future__ import annotations

import pytest

from lepton_ci.pipeline.model import shell_line, tag_regex
from lepton_ci.spec.loader import parse_spec
from tests.jenkins.conftest import SPECS, STYLES, TAGS, Rendered, render, rendered
from tests.jenkins.extract import LIBRARY_DIR, Run, evaluate_runs, jenkins_commands
from tests.jenkins.test_library import run_library


def jobs_run(r: Rendered, tag: str) -> list[str]:
    seen: list[str] = []
    for event in r.evaluate(branch=tag, trigger="tag").of_kind("sh"):
        if event["job"] not in seen:
            seen.append(event["job"])
    return seen


@pytest.mark.parametrize("tag", TAGS)
def test_tag_builds_run_the_jobs_whose_rule_admits_the_tag(
    any_rendered: Rendered, tag: str
) -> None:
    r = any_rendered
    expected = [job.name for job in r.pipeline.jobs if job.rule.applies("tag", tag)]
    assert jobs_run(r, tag) == expected


def test_a_release_tag_runs_every_model_command_and_asks_before_production(
    full: Rendered,
) -> None:
    evaluation = full.evaluate(branch="v1.2.0", trigger="tag")
    got = [(e["job"], e["script"]) for e in evaluation.of_kind("sh")]
    assert got == [(job, shell_line(cmd)) for job, cmd in full.pipeline.command_sequence()]
    [ask] = evaluation.of_kind("input")
    assert ask["job"] == "deploy-production"


@pytest.mark.parametrize("tag", ["exp-1", "V1.2.0"])
def test_other_tags_build_nothing(full: Rendered, tag: str) -> None:
    evaluation = full.evaluate(branch=tag, trigger="tag")
    assert evaluation.of_kind("sh") == [] and evaluation.of_kind("input") == []


def test_a_custom_glob_keeps_its_punctuation_literal() -> None:
    for style in STYLES:
        r = rendered("release-tags", style)
        assert jobs_run(r, "rel-3") == [job.name for job in r.pipeline.jobs]
        assert jobs_run(r, "rel3") == [] and jobs_run(r, "v1.2.0") == []


def test_without_release_tags_tag_builds_run_nothing(groovy_runtime: None) -> None:
    spec = parse_spec(
        SPECS["full"].replace("name: Digits CNN", "name: Digits CNN, release_tags: null"), "x.yaml"
    )
    for style in STYLES:
        _, text = render(spec, style)
        library = LIBRARY_DIR if style == "library" else None
        tagged, branch = evaluate_runs(
            text, [Run("v1.2.0", "tag"), Run("feature/x", "push")], library_dir=library
        )
        assert not isinstance(tagged, Exception) and not isinstance(branch, Exception)
        assert tagged.of_kind("sh") == [], style
        assert {e["job"] for e in branch.of_kind("sh")} == {
            "train", "evaluate", "metrics-push", "report"
        }  # fmt: skip


def test_standalone_uses_the_same_regex_as_gitlab() -> None:
    text = rendered("release-tags", "standalone").text
    assert f"tag pattern: '{tag_regex('rel-*')}', comparator: 'REGEXP'" in text.replace(
        "\\\\", "\\"
    )


def test_library_style_passes_the_glob() -> None:
    assert "    releaseTags: 'rel-*',\n" in rendered("release-tags", "library").text
    assert "    releaseTags: 'v*',\n" in rendered("full", "library").text


@pytest.mark.parametrize("tag", ["v1.2.0", "exp-1"])
def test_library_does_what_the_standalone_file_does_for_tags(tag: str) -> None:
    commands = {
        style: jenkins_commands(rendered("full", style).text, branch=tag, trigger="tag")
        for style in STYLES
    }
    assert commands["library"] == commands["standalone"]


def test_library_tag_regex_is_the_python_one(groovy_runtime: None) -> None:
    globs = ["v*", "rel-*", "1.*_x", "*", "release-2024.*-final"]
    echoed = run_library(
        "for (String g in ["
        + ", ".join(f"'{g}'" for g in globs)
        + "]) { echo(io.leptonci.LeptonStages.tagRegex(g)) }"
    )
    assert echoed == [tag_regex(g) for g in globs]


@pytest.mark.parametrize("bad", ["'v/*'", "'v* x'", "42"])
def test_library_rejects_a_release_tags_value_that_is_no_glob(
    groovy_runtime: None, bad: str
) -> None:
    echoed = run_library(
        f"try {{ leptonPipeline(install: false, releaseTags: {bad}) }}"
        " catch (hudson.AbortException e) { echo(e.message) }"
    )
    assert len(echoed) == 1 and "config key 'releaseTags' must be a glob" in echoed[0]
