"""GitLab's official CI schema (check-jsonschema's vendor.gitlab-ci) on everything we ship."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitlab.conftest import SPECS, VARIANTS, Render, check_schema, hostile_spec
from tests.gitlab.extract import interpolate_file, load_documents

# inputs a real project passes (deploy instantiated for production, another spec path)
SAMPLE_INPUTS = {
    "deploy": {
        "job_name": "deploy-production",
        "stage": "deploy-production",
        "environment": "production",
        "tier": "production",
        "when": "manual",
        "url": "https://model.example.com",
        "needs": [{"job": "deploy-staging", "artifacts": True}],
    },
}


def shipped_yaml(library_root: Path) -> list[Path]:
    return sorted(library_root.rglob("*.yml"))


@pytest.mark.slow
def test_generated_files_and_templates_pass_the_gitlab_ci_schema(
    render: Render, library_root: Path, tmp_path: Path
) -> None:
    files: list[Path] = []
    specs = {**SPECS, "hostile": hostile_spec()}
    for case, text in specs.items():
        for style, include in VARIANTS:
            out = render(text, style, include, "ml/it's $HOME/lepton.yaml")
            path = tmp_path / f"{case}-{style}-{include}.gitlab-ci.yml"
            path.write_text(out.text, encoding="utf-8")
            files.append(path)
    for source in shipped_yaml(library_root):
        name = source.stem
        text = source.read_text(encoding="utf-8")
        header = load_documents(text)[0]
        # the spec: header is a document of its own; the body is checked as GitLab sees it,
        # after input substitution, with defaults and with a project's inputs
        head = tmp_path / f"{name}.header.yml"
        head.write_text(json.dumps(header), encoding="utf-8")
        files.append(head)
        for label, inputs in (("defaults", {}), ("inputs", SAMPLE_INPUTS.get(name, {}))):
            body = tmp_path / f"{name}.{label}.gitlab-ci.yml"
            config = interpolate_file(text, inputs)
            config.setdefault("stages", sorted({j.get("stage", "test") for j in _jobs(config)}))
            body.write_text(json.dumps(config), encoding="utf-8")
            files.append(body)
    result = check_schema(files)
    assert result.returncode == 0, result.stdout + result.stderr


def _jobs(config: dict) -> list[dict]:
    return [v for k, v in config.items() if isinstance(v, dict) and k not in ("spec", "default")]
