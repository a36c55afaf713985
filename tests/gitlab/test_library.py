"""Conventions of the component project in gitlab/ (what the CI/CD catalog and users expect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lepton_ci.pipeline.build import STEPS
from lepton_ci.pipeline.model import shell_line
from lepton_ci.render.gitlab import template_commands
from tests.gitlab.conftest import SPECS, Render
from tests.gitlab.extract import interpolate_file, load_documents, resolve

INCLUDE = "include/lepton.gitlab-ci.yml"


def components(root: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((root / "templates").glob("*.yml"))}


def walk_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in walk_keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in walk_keys(v)}
    return set()


def test_every_step_has_a_component_and_a_hidden_job(library_root: Path) -> None:
    assert set(components(library_root)) == set(STEPS)
    hidden = load_documents((library_root / INCLUDE).read_text())[1]
    assert {f".lepton-{step}" for step in STEPS} <= set(hidden)


@pytest.mark.parametrize("step", STEPS)
def test_component_inputs_are_typed_documented_and_defaulted(library_root: Path, step: str) -> None:
    header = load_documents(components(library_root)[step].read_text())[0]
    inputs = header["spec"]["inputs"]
    assert {"job_name", "stage", "spec_args", "retry", "needs"} <= set(inputs)
    for name, decl in inputs.items():
        assert decl.get("type") in ("string", "number", "boolean", "array"), name
        assert decl.get("description", "").strip(), name
        assert "default" in decl, name
    readme = (library_root / "README.md").read_text()
    assert f"`{step}`" in readme
    assert all(f"`{name}`" in readme for name in inputs)


@pytest.mark.parametrize("path", ["templates/*.yml", INCLUDE])
def test_rules_not_only_except_and_no_before_script(library_root: Path, path: str) -> None:
    for file in library_root.glob(path):
        body = load_documents(file.read_text())[-1]
        keys = walk_keys(body)
        assert not keys & {"only", "except", "before_script"}, file.name


@pytest.mark.parametrize("step", STEPS)
def test_every_job_starts_with_its_kill_switch(library_root: Path, step: str) -> None:
    switch = "$LEPTON_" + step.upper().replace("-", "_") + "_DISABLED"
    component = interpolate_file(components(library_root)[step].read_text(), {})
    hidden = interpolate_file((library_root / INCLUDE).read_text(), {})[f".lepton-{step}"]
    jobs = [v for k, v in component.items() if not k.startswith(".")]
    for job in [*jobs, hidden]:
        first = job["rules"][0]
        own = first["if"].split(" || ")[0]
        assert first["when"] == "never" and own == switch + " =~ /^(true|1|yes)$/i"


@pytest.mark.parametrize("case", sorted(SPECS))
def test_renderer_knows_what_the_templates_run(
    render: Render, library_root: Path, case: str
) -> None:
    """`template_commands` (used to decide script overrides) mirrors the files in gitlab/."""
    out = render(SPECS[case], "library", "component", "other/lepton.yaml")
    spec_args = " " + shell_line(("--spec", "other/lepton.yaml"))
    for job in out.pipeline.jobs:
        inputs: dict[str, Any] = {"spec_args": spec_args}
        if job.environment:
            inputs.update(environment=job.environment.name, job_name=job.name)
        config = interpolate_file(components(library_root)[job.step].read_text(), inputs)
        name = job.name if job.environment else job.step
        script = resolve_job(config, name)["script"]
        assert script == [shell_line(c) for c in template_commands(job, out.pipeline)]


def resolve_job(config: dict[str, Any], name: str) -> dict[str, Any]:
    import yaml

    return resolve(yaml.safe_dump(config))[name]


def test_deploy_component_instantiates_once_per_environment(
    render: Render, library_root: Path
) -> None:
    out = render(SPECS["full"], "library", "component")
    config = resolve(out.text, library_root=library_root)
    staging, production = config["deploy-staging"], config["deploy-production"]
    assert staging["environment"]["name"] == "staging"
    assert production["environment"]["deployment_tier"] == "production"
    assert staging["resource_group"] != production["resource_group"]
    assert staging["artifacts"]["reports"]["dotenv"] == ".lepton/run/deploy/staging.env"
    assert [r.get("when") for r in production["rules"][1:]] == ["manual", "manual", "manual"]
    assert production["allow_failure"] is False
