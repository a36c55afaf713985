"""Deploy deploys registered versions only: what it would serve is checked against the
registry's record of that version (manifest digest) before anything starts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lepton_ci.deploy.core import UnregisteredArtifact, _release_from_run_dir, environment
from lepton_ci.runtime.hashing import sha256_file
from lepton_ci.runtime.manifest import read_manifest
from tests.deploy.conftest import Project
from tests.deploy.models import write_model

ENVS = "    - name: dev\n      target: local\n      port: 18080\n"


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    return make_project(ENVS, port=18080)


def _release(project: Project):
    env = environment(project.spec, "dev")
    return _release_from_run_dir(project.spec, env, project.run_dir, project.registry)


def test_the_registered_artifact_is_deployed(project: Project) -> None:
    model_dir = write_model(project.run_dir / "train", 1)
    version = project.register(read_manifest(model_dir))
    assert _release(project).version == version


def test_a_gate_failed_run_beside_a_stale_model_env_is_refused(project: Project) -> None:
    model_dir = write_model(project.run_dir / "train", 1)
    project.register(read_manifest(model_dir))
    write_model(project.run_dir / "train", 2)  # retrained, failed its gates: not registered
    with pytest.raises(UnregisteredArtifact, match="not version 1 of deploy-test"):
        _release(project)


def test_a_rewritten_manifest_is_refused(project: Project) -> None:
    model_dir = write_model(project.run_dir / "train", 1)
    project.register(read_manifest(model_dir))
    # a backdoor: change a file and rewrite the manifest so the files match it again
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    rel = sorted(manifest["files"])[0]
    target = model_dir / rel
    target.write_bytes(target.read_bytes() + b"\n# backdoor\n")
    manifest["files"][rel] = {"sha256": sha256_file(target), "size": target.stat().st_size}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(UnregisteredArtifact, match="rewritten manifest"):
        _release(project)


def test_a_version_the_registry_does_not_know_is_refused(project: Project) -> None:
    write_model(project.run_dir / "train", 1)
    project.write("register/model.env", "LEPTON_MODEL_NAME=deploy-test\nLEPTON_MODEL_VERSION=7\n")
    with pytest.raises(UnregisteredArtifact, match="not in the registry"):
        _release(project)


def test_a_rerun_s_artifact_has_the_same_digest_so_a_redeploy_is_unchanged(
    project: Project,
) -> None:
    model_dir = write_model(project.run_dir / "train", 1)
    project.register(read_manifest(model_dir))
    before = _release(project).digest
    path: Path = model_dir / "manifest.json"
    rerun = json.loads(path.read_text()) | {"durations": {"step_seconds": 0.2}, "ci_url": "x"}
    path.write_text(json.dumps(rerun))
    assert _release(project).digest == before  # what `_run_target` compares for "unchanged"
