"""The CLI: clear errors with documented exit codes, no tracebacks unless --verbose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lepton_ci.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def lepton(
    *args: str, cwd: Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lepton_ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
    )


def test_help_lists_every_command() -> None:
    out = lepton("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


def test_validate_reports_problems_with_exit_code_3_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "lepton.yaml").write_text("project: {name: x}\ntrian: {}\n")
    out = lepton("validate", cwd=tmp_path)
    assert out.returncode == 3
    assert "lepton.yaml:2:1: trian: unknown key" in out.stderr
    assert "Traceback" not in out.stderr


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "lepton.yaml").write_text("project: {name: x}\n")
    out = lepton("--verbose", "validate", cwd=tmp_path)
    assert out.returncode == 3 and "Traceback" in out.stderr


def test_schema_is_json_schema_that_accepts_the_example_spec() -> None:
    import jsonschema
    from ruamel.yaml import YAML

    out = lepton("schema")
    schema = json.loads(out.stdout)
    assert schema["title"] == "lepton.yaml"
    example = ROOT / "examples" / "digits" / "lepton.yaml"
    if not example.exists():
        pytest.skip("example model not present")
    jsonschema.validate(YAML(typ="safe").load(example.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"project": {"name": "x"}, "bogus": 1}, schema)


def test_pipeline_shows_jobs_and_their_exact_commands(tmp_path: Path) -> None:
    (tmp_path / "lepton.yaml").write_text(
        "project: {name: x}\ntrain: {command: python train.py}\nevaluate: {command: python e.py}\n"
        "deploy: {environments: [{name: staging}, {name: production, approval: true}]}\n"
    )
    out = lepton("pipeline", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (
        "deploy-production  (needs register, image-push, deploy-staging; manual approval"
        in out.stdout
    )
    assert "$ lepton-ci evaluate --junit .lepton/run/evaluate/junit.xml" in out.stdout
    data = json.loads(lepton("pipeline", "--format", "json", cwd=tmp_path).stdout)
    assert [j["name"] for j in data["jobs"]][-1] == "report"


def test_unknown_command_is_a_usage_error() -> None:
    out = lepton("trian")
    assert out.returncode == 2 and "No such command" in out.stderr


def test_the_spec_reference_in_docs_is_generated_from_the_model() -> None:
    from lepton_ci.spec.reference import reference_markdown

    committed = (ROOT / "docs" / "spec-reference.md").read_text()
    assert committed == reference_markdown(), (
        "docs/spec-reference.md is stale: "
        "python -m lepton_ci.spec.reference > docs/spec-reference.md"
    )


def test_every_exit_code_is_documented() -> None:
    from lepton_ci.errors import ExitCode

    doc = (ROOT / "docs" / "exit-codes.md").read_text()
    for code in ExitCode:
        assert f"| {code.value} | {code.name} |" in doc
