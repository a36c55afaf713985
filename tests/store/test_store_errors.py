"""What users read when the artifact store is misconfigured: the cause and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode, SpecError
from lepton_ci.registry import open_registry
from lepton_ci.spec.loader import parse_spec
from lepton_ci.store import open_store, store_location

from .conftest import SPEC, Lepton, evaluate, project, write_layers


def trained(root: Path) -> Path:
    run = root / ".lepton" / "run"
    write_layers(run / "train", layers=1)
    evaluate(run)
    return run


def test_the_default_store_is_beside_the_registry_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LEPTON_ARTIFACTS", raising=False)
    monkeypatch.delenv("LEPTON_REGISTRY", raising=False)
    spec = parse_spec(SPEC, "lepton.yaml")
    assert store_location(spec, tmp_path) == str(tmp_path / ".lepton" / "artifacts")
    shared = "/var/lib/lepton-ci/registry.db"
    assert store_location(spec, tmp_path, shared) == "/var/lib/lepton-ci/artifacts"
    configured = parse_spec(SPEC + "registry: {artifacts: s3://models/team-a}\n", "lepton.yaml")
    assert store_location(configured, tmp_path) == "s3://models/team-a"


@pytest.mark.parametrize(
    "value", ["gs://bucket/models", "s3://", "s3://Upper/x", "s3://key:secret@bucket/x"]
)
def test_an_unserved_store_url_is_a_spec_error(value: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(SPEC + f"registry: {{artifacts: '{value}'}}\n", "lepton.yaml")
    assert "registry.artifacts" in str(info.value) and "s3://BUCKET[/PREFIX]" in str(info.value)
    assert "secret" not in str(info.value)  # a URL with credentials is not echoed


def test_s3_without_credentials_says_which_variables_to_set(
    lepton: Lepton, aws_env: None, moto_server: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LEPTON_ARTIFACTS", "s3://models/lepton")
    root = project(tmp_path / "repo", tmp_path / "registry.db")
    trained(root)
    code, _, err = lepton("models", "register", cwd=root)
    assert code == ExitCode.SERVER and "Traceback" not in err
    assert "no AWS credentials" in err and "AWS_ACCESS_KEY_ID" in err
    assert not (root / ".lepton" / "run" / "register" / "model.env").exists()  # not registered


def test_s3_with_a_missing_bucket_says_how_to_create_it(
    lepton: Lepton, s3_bucket: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LEPTON_ARTIFACTS", "s3://no-such-bucket/lepton")
    root = project(tmp_path / "repo", tmp_path / "registry.db")
    trained(root)
    code, _, err = lepton("models", "register", cwd=root)
    assert code == ExitCode.SERVER and "Traceback" not in err
    assert "NoSuchBucket" in err and "aws s3 mb s3://no-such-bucket" in err
    assert "lepton-test-secret" not in err


def test_in_ci_a_store_inside_the_workspace_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LEPTON_ARTIFACTS", "models-store")
    spec = parse_spec(SPEC, "lepton.yaml")
    with pytest.raises(Exception, match="inside the workspace, and this is CI"):
        open_store(spec, tmp_path)
    shared = parse_spec(SPEC + "registry: {shared: true}\n", "lepton.yaml")
    assert open_store(shared, tmp_path).location == str(tmp_path / "models-store")


def test_a_version_registered_without_its_files_says_so(
    lepton: Lepton, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LEPTON_ARTIFACTS", str(tmp_path / "store"))
    root = project(tmp_path / "repo", tmp_path / "registry.db")
    spec = parse_spec((root / "lepton.yaml").read_text(), root / "lepton.yaml")
    with open_registry(spec, root) as registry:  # as lepton-ci before the artifact store did
        manifest = json.loads((trained(root) / "train" / "manifest.json").read_text())
        registry.register(
            "digits-cnn",
            manifest=manifest,
            metrics={},
            gates=[],
            git_sha=None,
            data_hash=None,
            params={},
        )
    code, _, err = lepton("models", "pull", "1", "out", cwd=root)
    assert code == ExitCode.FAILURE and "Traceback" not in err
    assert "was registered without its model files" in err
    assert not (root / "out").exists()
