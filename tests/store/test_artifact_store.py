"""The artifact store: `models register` stores the files, `models pull` hands them back.

Every test runs against the three stores: a local directory, S3 (moto's standalone server on
loopback, reached through the standard AWS_* variables like any S3-compatible server) and an OCI
registry's repository (the docker-registry of `.ci/services` on loopback).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode
from lepton_ci.runtime.manifest import PROVENANCE, SIDE_FILES, verify_artifacts
from lepton_ci.store.versions import CHUNK_SIZE

from .conftest import SPEC, Lepton, Store, evaluate, project, write_layers


def register(lepton: Lepton, root: Path, changed: int | None = None) -> int:
    run = root / ".lepton" / "run"
    if run.exists():
        shutil.rmtree(run)
    write_layers(run / "train", changed)
    evaluate(run)
    code, out, err = lepton("models", "register", "--format", "json", cwd=root)
    assert code == 0, err
    return int(json.loads(out)["version"])


def files_of(directory: Path) -> dict[str, bytes]:
    """The model's files; a pulled copy also has its provenance (and signature) beside them."""
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.relative_to(directory).as_posix() not in SIDE_FILES
    }


def test_register_then_pull_elsewhere_gives_the_same_bytes(
    lepton: Lepton, store: Store, tmp_path: Path
) -> None:
    trained = project(tmp_path / "laptop", tmp_path / "shared" / "registry.db")
    version = register(lepton, trained)
    code, _, err = lepton("models", "promote", str(version), cwd=trained)
    assert code == 0, err

    elsewhere = project(tmp_path / "agent", tmp_path / "shared" / "registry.db")
    code, out, err = lepton("models", "pull", "champion", "pulled", cwd=elsewhere)
    assert code == 0, err
    assert out.strip() == "pulled" and "verified" in err
    original = trained / ".lepton" / "run" / "train"
    assert files_of(elsewhere / "pulled") == files_of(original)  # model.pt, labels.json, manifest
    assert (elsewhere / "pulled" / PROVENANCE).is_file()
    assert "unsigned" in err  # no registry.signing: the sha256 digests only, and it says so
    verify_artifacts(elsewhere / "pulled")
    assert not (elsewhere / ".lepton" / "run").exists()  # nothing was trained there


def test_ten_versions_differing_in_one_layer_store_far_less_than_ten_copies(
    lepton: Lepton, store: Store, tmp_path: Path
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    versions = [register(lepton, root, changed=None if i == 0 else i) for i in range(10)]
    assert versions == list(range(1, 11))  # ten distinct artifacts
    model_size = sum(len(b) for b in files_of(root / ".lepton" / "run" / "train").values())
    stored = sum(store.blobs().values())
    ratio = stored / model_size
    assert ratio < 4.5
    # and the last version still pulls whole
    code, _, err = lepton("models", "pull", "latest", str(tmp_path / "v10"), cwd=root)
    assert code == 0, err
    assert files_of(tmp_path / "v10") == files_of(root / ".lepton" / "run" / "train")
    print(
        f"\n[{store.kind}] 10 versions of a {model_size / 2**20:.2f} MiB model "
        f"(8 layers of 1 MiB, one layer changed per version, {CHUNK_SIZE // 2**20} MiB chunks): "
        f"{stored / 2**20:.2f} MiB stored = {ratio:.2f}x the model size (10 copies: 10x)"
    )


def test_a_tampered_blob_is_refused_and_nothing_is_left_behind(
    lepton: Lepton, store: Store, tmp_path: Path
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    register(lepton, root)
    weights = (root / ".lepton" / "run" / "train" / "model.pt").read_bytes()
    first_chunk = __import__("hashlib").sha256(weights[:CHUNK_SIZE]).hexdigest()
    key = next(k for k in store.blobs() if k.endswith(first_chunk))
    data = bytearray(store.read(key))
    data[100] ^= 0xFF  # one bit flipped in the store
    store.overwrite(key, bytes(data))

    code, _, err = lepton("models", "pull", "1", "out", cwd=root)
    assert code == ExitCode.FAILURE and "Traceback" not in err
    assert "refusing to pull digits-cnn version 1: file 'model.pt'" in err
    assert f"blob sha256:{first_chunk}" in err and "does not match its digest" in err
    assert not (root / "out").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".out")] == []  # no staging


def test_a_store_without_the_blobs_is_named_not_a_traceback(
    lepton: Lepton, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    register(lepton, root)
    empty = store.elsewhere(tmp_path)
    monkeypatch.setenv("LEPTON_ARTIFACTS", empty)
    code, _, err = lepton("models", "pull", "1", "out", cwd=root)
    assert code == ExitCode.SERVER and "Traceback" not in err
    assert f"the artifact store {empty} has no blob sha256:" in err
    assert "not the one the version was registered with" in err
    assert not (root / "out").exists()


def test_pull_refuses_a_non_empty_directory(lepton: Lepton, store: Store, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    register(lepton, root)
    (root / "out").mkdir()
    (root / "out" / "keep.txt").write_text("mine")
    code, _, err = lepton("models", "pull", "1", "out", cwd=root)
    assert code != 0 and "exists and is not empty" in err
    assert files_of(root / "out") == {"keep.txt": b"mine"}


def test_an_mlflow_registry_keeps_the_files_on_mlflow_too(
    tmp_path: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton_ci.registration import register_run
    from lepton_ci.registry import open_registry
    from lepton_ci.spec.loader import parse_spec
    from lepton_ci.store import open_store
    from lepton_ci.store.versions import pull

    monkeypatch.delenv("LEPTON_ARTIFACTS", raising=False)
    name = f"store-{abs(hash(str(tmp_path))) % 10**8}"
    text = SPEC.replace("model: digits-cnn", f"model: {name}")
    spec = parse_spec(text + f"registry: {{backend: mlflow, tracking_uri: '{mlflow_uri}'}}\n", "x")
    run = tmp_path / "run"
    write_layers(run / "train", layers=2, model=name)
    evaluate(run, model=name)
    store = open_store(spec, tmp_path)
    assert store.location.startswith("mlflow://")  # nothing in the workspace: CI jobs share it
    assert not (tmp_path / ".lepton").exists()
    with open_registry(spec, tmp_path) as registry:
        version = register_run(registry, run, model=name, store=store).version
        pull(registry, store, registry.get(name, version.version), tmp_path / "pulled")
    assert files_of(tmp_path / "pulled") == files_of(run / "train")


def blobs_on(server: str) -> int:
    """Blobs the MLflow artifact store holds on ``server``, counted by a client of its own."""
    from lepton_ci.store.mlflow_artifacts import MlflowArtifactStore

    fresh = MlflowArtifactStore(server)
    fresh._refresh()
    return len(fresh._known)


@pytest.mark.slow  # an `mlflow server` process
def test_on_an_mlflow_server_another_job_pulls_what_one_registered(
    tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two CI jobs share nothing but the tracking URI: the files go through the server's
    proxied artifact storage, and what did not change is not stored again."""
    from lepton_ci.registration import register_run
    from lepton_ci.registry import open_registry
    from lepton_ci.spec.loader import parse_spec
    from lepton_ci.store import open_store
    from lepton_ci.store.versions import pull

    monkeypatch.delenv("LEPTON_ARTIFACTS", raising=False)
    monkeypatch.setenv("CI", "true")  # a workspace-local store would be refused here
    name = f"served-{abs(hash(str(tmp_path))) % 10**8}"
    registry_yaml = f"registry: {{backend: mlflow, tracking_uri: '{mlflow_server}'}}\n"
    spec = parse_spec(SPEC.replace("model: digits-cnn", f"model: {name}") + registry_yaml, "x")
    first, second = tmp_path / "job-register", tmp_path / "job-deploy"
    before = blobs_on(mlflow_server)
    write_layers(first / "run" / "train", layers=4, model=name)
    evaluate(first / "run", model=name)
    with open_registry(spec, first) as registry:
        v1 = register_run(registry, first / "run", model=name, store=open_store(spec, first))
    after_v1 = blobs_on(mlflow_server)
    write_layers(first / "run" / "train", changed=1, layers=4, model=name)
    with open_registry(spec, first) as registry:
        register_run(registry, first / "run", model=name, store=open_store(spec, first))
    added_by_v2 = blobs_on(mlflow_server) - after_v1
    assert after_v1 - before >= 4  # four 1 MiB layers at least
    assert 0 < added_by_v2 < after_v1 - before  # the chunks around the changed layer only

    with open_registry(spec, second) as registry:  # another job: a new client, an empty workspace
        version = registry.get(name, v1.version.version)
        pull(registry, open_store(spec, second), version, second / "m")
    assert verify_artifacts(second / "m")["model"] == name
    assert not (second / ".lepton").exists()
