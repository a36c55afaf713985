"""Release tags on GitLab: tag pipelines run what the model says, in every style.

``project.release_tags`` (a glob, default ``v*``) becomes ``$CI_COMMIT_TAG =~ /^v.*$/`` in
``workflow: rules:`` and in each job's ``rules:``; the components and the include template
take the regex as their ``release_tags`` input.
"""

from __future__ import annotations

import pytest
import yaml

from lepton_ci.errors import LeptonError
from lepton_ci.pipeline.model import tag_regex
from lepton_ci.render.gitlab import DEFAULT_TAG_REGEX, NO_TAG_REGEX, release_tag_regex
from tests.gitlab.conftest import SPECS, VARIANTS, GitlabCiLocal, Render
from tests.gitlab.extract import load_documents, resolve

NO_TAGS = SPECS["full"].replace('name: "Digits CNN"}', 'name: "Digits CNN", release_tags: null}')


def on_tag(tag: str) -> dict[str, str]:
    """Variables of a tag pipeline: GitLab sets CI_COMMIT_TAG and no CI_COMMIT_BRANCH."""
    return {"CI_COMMIT_TAG": tag, "CI_COMMIT_BRANCH": ""}


def test_every_job_and_the_workflow_admit_release_tags(render: Render) -> None:
    out = render(SPECS["release-tags"], "standalone")
    doc = yaml.safe_load(out.text)
    expr = f"$CI_COMMIT_TAG =~ /{tag_regex('rel-*')}/"
    assert expr == "$CI_COMMIT_TAG =~ /^rel\\-.*$/"
    assert {"if": expr} in doc["workflow"]["rules"]
    for job in out.pipeline.jobs:
        tag_rules = [r for r in doc[job.name]["rules"] if r["if"].startswith("$CI_COMMIT_TAG")]
        assert [r["if"] for r in tag_rules] == [expr], job.name
    assert doc["deploy-production"]["rules"][-1] == {"if": expr, "when": "manual"}
    assert doc["metrics-push"]["rules"][-1] == {"if": expr, "when": "always"}


def test_without_release_tags_no_rule_admits_a_tag(render: Render, library_root) -> None:
    for style, include in VARIANTS:
        text = render(NO_TAGS, style, include).text
        assert "CI_COMMIT_TAG" not in text, (style, include)
        for name, job in resolve(text, library_root=library_root).items():
            for rule in job.get("rules", []) if isinstance(job, dict) else []:
                if rule["if"].startswith("$CI_COMMIT_TAG"):  # the templates' own rule
                    assert rule["if"] == f"$CI_COMMIT_TAG =~ /{NO_TAG_REGEX}/", name


def test_library_passes_the_regex_only_when_it_is_not_the_default(
    render: Render, library_root
) -> None:
    custom = render(SPECS["release-tags"], "library", "component").text
    includes = yaml.safe_load(custom)["include"]
    assert [i["inputs"]["release_tags"] for i in includes] == [tag_regex("rel-*")] * 9
    assert "release_tags" not in render(SPECS["full"], "library", "component").text
    merged = resolve(custom, library_root=library_root)
    assert merged["register"]["rules"][-1] == {"if": "$CI_COMMIT_TAG =~ /^rel\\-.*$/"}
    template = render(SPECS["release-tags"], "library", "template").text
    [include] = yaml.safe_load(template)["include"]
    assert include["inputs"]["release_tags"] == tag_regex("rel-*")


def test_templates_default_to_the_spec_default(library_root) -> None:
    assert tag_regex("v*") == DEFAULT_TAG_REGEX
    for path in [*sorted((library_root / "templates").glob("*.yml")),
                 library_root / "include" / "lepton.gitlab-ci.yml"]:  # fmt: skip
        decl = load_documents(path.read_text())[0]["spec"]["inputs"]["release_tags"]
        assert decl["type"] == "string" and decl["default"] == DEFAULT_TAG_REGEX, path.name
        assert "description" in decl, path.name


@pytest.mark.parametrize("glob", ["v/*", "v*/", "a b*", "$x*"])
def test_a_glob_that_cannot_sit_between_slashes_is_refused(glob: str) -> None:
    with pytest.raises(LeptonError, match="cannot be written as a GitLab regex"):
        release_tag_regex(glob)


@pytest.mark.slow
@pytest.mark.parametrize(("style", "include"), VARIANTS)
def test_gitlab_ci_local_runs_custom_release_tags_only(
    render: Render, gitlab_ci_local: GitlabCiLocal, style: str, include: str
) -> None:
    out = render(SPECS["release-tags"], style, include)
    gitlab_ci_local.write(out.text)
    everything = gitlab_ci_local.jobs(on_tag("rel-7"))
    assert list(everything) == list(out.pipeline.stages)
    assert everything["deploy-production"] == "manual"
    assert gitlab_ci_local.jobs(on_tag("rel7")) == {}
    assert gitlab_ci_local.jobs(on_tag("v1.0.0")) == {}
    gitlab_ci_local.write(render(NO_TAGS, style, include).text)
    assert gitlab_ci_local.jobs(on_tag("v1.0.0")) == {}
