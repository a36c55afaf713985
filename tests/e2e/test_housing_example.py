"""`lepton-ci run` on a copy of the housing example: regression, command-style train/evaluate.

A second model repository of another task and layout than digits (scripts, CSV data, its own
``requirements.txt``) goes through the whole pipeline: trained, gated on ``r2``/``mae``,
registered as version 1, deployed to both (local) environments and promoted to champion.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lepton_ci.deploy.probe import get
from lepton_ci.registry import open_registry
from lepton_ci.runtime.manifest import read_manifest
from lepton_ci.spec import load_spec
from tests.e2e.conftest import REPO, git, lepton, local_targets
from tests.e2e.test_local_run import NO_IMAGE, summary

pytestmark = pytest.mark.slow

HOUSING = REPO / "examples" / "housing"


def housing_project(dest: Path) -> Path:
    shutil.copytree(HOUSING, dest, ignore=shutil.ignore_patterns(".lepton", "__pycache__"))
    spec_file = dest / "lepton.yaml"
    spec: dict[str, Any] = yaml.safe_load(spec_file.read_text())
    local_targets(spec)
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    (dest / ".gitignore").write_text(".lepton/\n__pycache__/\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "housing example")
    return dest


def test_the_regression_example_runs_the_whole_pipeline(
    tmp_path: Path, lepton_env: dict[str, str], stop_local_deployments
) -> None:
    root = housing_project(tmp_path / "housing")
    stop_local_deployments(root)

    proc = lepton(root, "run", "--approve", env={**lepton_env, **NO_IMAGE})

    assert proc.returncode == 0, proc.stdout + proc.stderr
    marks = summary(proc.stdout)
    assert {job: marks[job] for job in ("train", "evaluate", "register")} == {
        "train": "✓",
        "evaluate": "✓",
        "register": "✓",
    }
    assert (marks["deploy-staging"], marks["deploy-production"]) == ("✓", "✓")
    with open_registry(load_spec(root / "lepton.yaml"), root) as registry:
        version = registry.latest("housing")
        assert version is not None and version.version == 1
        assert "champion" in version.aliases
        assert version.metrics["r2"] >= 0.9
    for environment in ("staging", "production"):
        record = json.loads((root / ".lepton/run/deploy" / f"{environment}.json").read_text())
        assert record["details"]["smoke_tested"] is True, "train.py writes input_example.json"
    drift = read_manifest(root / ".lepton/run/train")["drift"]
    names = [feature["name"] for feature in drift["features"]]
    assert names == ["area", "rooms", "age", "distance"], "train.py writes drift_reference.npz"
    assert drift["samples"] == 800 and drift["predictions"] is not None
    status, body = get(f"{record['url']}/metrics")
    assert status == 200
    assert 'lepton_feature_bin_total{bin="+Inf",feature="distance"}' in body.decode()
    assert "lepton_prediction_reference_ratio{" in body.decode()


def test_the_committed_files_are_what_render_writes_today(
    tmp_path: Path, lepton_env: dict[str, str]
) -> None:
    """The example's generated files follow the templates (a template change re-renders it)."""
    root = tmp_path / "housing"
    shutil.copytree(HOUSING, root, ignore=shutil.ignore_patterns(".lepton", "__pycache__"))
    check = lepton(root, "render", "--check", env=lepton_env)
    assert check.returncode == 0, check.stdout + check.stderr
