"""Meta-tests: conventions every step and command must follow. A new step that misses its
template partial, GitLab job, Groovy var, golden case or documentation fails here."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from lepton_ci.cli import COMMANDS
from lepton_ci.pipeline.build import STEPS
from tests.golden.cases import CASES

ROOT = Path(__file__).resolve().parents[2]
DOCS = (
    "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    + (ROOT / "README.md").read_text()
)


def camel(step: str) -> str:
    return "lepton" + "".join(part.capitalize() for part in step.split("-"))


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_its_jenkins_var_and_help_page(step: str) -> None:
    var = ROOT / "jenkins" / "vars" / f"{camel(step)}.groovy"
    assert var.is_file(), f"missing {var.relative_to(ROOT)}"
    assert re.search(r"^\w+ call\(Map config = \[:\]\)", var.read_text(), re.M)
    assert var.with_suffix(".txt").is_file()


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_a_component_and_a_hidden_gitlab_job(step: str) -> None:
    """Its Jenkins stage is the generic one unless templates/jenkins/stages/<step>.j2 says
    otherwise (tests/jenkins/test_render.py)."""
    assert (ROOT / "gitlab" / "templates" / f"{step}.yml").is_file()
    include = (ROOT / "gitlab" / "include" / "lepton.gitlab-ci.yml").read_text()
    assert f"\n.lepton-{step}:" in include


@pytest.mark.parametrize("step", STEPS)
def test_every_step_appears_in_a_golden_case_and_in_the_docs(step: str) -> None:
    assert any(job.step == step for case in CASES for job in case.pipeline.jobs)
    command = next(
        " ".join(cmd[:3])
        for case in CASES
        for job in case.pipeline.jobs
        for cmd in job.commands
        if job.step == step
    )
    words = (
        command.split()[:3]
        if command.split()[1] in {"models", "image", "metrics"}
        else command.split()[:2]
    )
    assert " ".join(words) in DOCS, f"`{' '.join(words)}` is not documented"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_cli_command_loads_and_is_documented(name: str) -> None:
    module_name, _, attr = COMMANDS[name][0].partition(":")
    command = getattr(importlib.import_module(module_name), attr)
    assert command.help, f"lepton-ci {name} has no help text"
    assert f"lepton-ci {name}" in DOCS, f"`lepton-ci {name}` is not documented"


def test_every_module_says_what_it_is_for() -> None:
    missing = []
    for path in (ROOT / "lepton_ci").rglob("*.py"):
        if path.name == "__main__.py" or not path.read_text().strip():
            continue
        if ast.get_docstring(ast.parse(path.read_text())) is None:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == []


DOC_REFERENCE = re.compile(r"\bdocs/([A-Za-z0-9_-]+\.md)")


def test_every_docs_page_the_code_and_the_generated_files_name_exists() -> None:
    """`init` once pointed new users at docs/spec.md, which never existed."""
    sources = [*ROOT.glob("templates/**/*.j2"), *ROOT.glob("lepton_ci/**/*.py")]
    missing = {
        f"{path.relative_to(ROOT)}: docs/{page}"
        for path in sources
        for page in DOC_REFERENCE.findall(path.read_text(encoding="utf-8"))
        if not (ROOT / "docs" / page).is_file()
    }
    assert not missing, sorted(missing)


def test_the_shared_library_calls_only_what_the_jenkins_sandbox_allows_for_collections() -> None:
    """A folder-level library runs in the Groovy sandbox: script-security's generic-whitelist
    (jenkinsci/script-security-plugin a5f0130) allows Collections.unmodifiableList/Map, and
    Groovy's asImmutable() only for a Map: a List's asImmutable() fails the build there."""
    offending = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "jenkins").rglob("*.groovy"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".asImmutable()" in line
    ]
    assert not offending, offending
