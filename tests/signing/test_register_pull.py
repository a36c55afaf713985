"""Signing at register, verification at `models pull` (issue 10 items 2 and 3): each way a
signed version can be wrong is refused, and a refused pull leaves no directory behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lepton_ci.errors import ExitCode
from lepton_ci.runtime.manifest import PROVENANCE, SIGNATURE, read_manifest
from lepton_ci.signing import fingerprint

from .conftest import (
    KeyPair,
    Lepton,
    files_under,
    project,
    register,
    registry_file,
    rewrite,
    set_registry_file,
    signature_by,
)


def fp(key: KeyPair) -> str:
    return fingerprint(key.public.read_bytes())


@pytest.fixture
def signed(
    tmp_path: Path, team: KeyPair, lepton: Lepton, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """(checkout, registry file) with version 1 registered and signed by the team's key."""
    registry = tmp_path / "shared" / "registry.db"
    root = project(tmp_path / "repo", registry)
    monkeypatch.setenv("LEPTON_SIGNING_KEY", team.private_pem)
    version, err = register(lepton, root)
    assert version == 1
    assert f"signed the model directory with key {fp(team)}" in err
    monkeypatch.delenv("LEPTON_SIGNING_KEY")  # pulling needs only the public key
    return root, registry


def pull(lepton: Lepton, root: Path, version: str = "1") -> tuple[int, str]:
    code, _, err = lepton("models", "pull", version, "pulled", cwd=root)
    return code, err


def refused(lepton: Lepton, root: Path, version: str = "1") -> str:
    code, err = pull(lepton, root, version)
    assert code == ExitCode.FAILURE, err
    assert "Traceback" not in err
    assert not (root / "pulled").exists()  # fail closed: nothing half-verified is left
    assert not list(root.glob(".pulled.pull-*"))
    return err


def test_a_signed_version_is_pulled_with_its_signature_verified(
    signed: tuple[Path, Path], team: KeyPair, lepton: Lepton
) -> None:
    root, _ = signed
    code, err = pull(lepton, root)
    assert code == 0, err
    assert f"signature verified: signed by key {fp(team)}" in err
    assert (root / "pulled" / SIGNATURE).is_file() and (root / "pulled" / PROVENANCE).is_file()


def test_a_tampered_file_with_a_rewritten_manifest_is_refused_by_the_signature(
    signed: tuple[Path, Path], team: KeyPair, lepton: Lepton
) -> None:
    # someone who can write the registry and the store registers a backdoored copy (labels.json
    # changed, its manifest entry rewritten: every sha256 and the registry's artifact digest
    # match) and gives it the signature of version 1, the only one the team's key made
    root, registry = signed
    spec = root / "lepton.yaml"
    spec.write_text(spec.read_text().replace("{public_key", "{required: false, public_key"))
    rewrite(root / ".lepton" / "run" / "train", "labels.json", b'["a", "b", "BACKDOOR"]')
    assert register(lepton, root)[0] == 2  # no key in the environment: unsigned
    set_registry_file(registry, 2, SIGNATURE, registry_file(registry, 1, SIGNATURE))
    err = refused(lepton, root, "2")
    assert "refusing to pull tiny version 2" in err
    assert f"the files are not the ones key {fp(team)} signed" in err
    assert "'labels.json' differs from the signed digest" in err
    assert "'manifest.json' differs from the signed digest" in err


def test_a_tampered_file_is_refused(signed: tuple[Path, Path], lepton: Lepton) -> None:
    # the store's blob of labels.json rewritten (its digest no longer matches)
    root, registry = signed
    record = json.loads(registry_file(registry, 1, "artifacts.json"))
    chunk = record["files"]["labels.json"]["chunks"][0]
    blob = root.parent / "shared" / "artifacts" / "blobs" / "sha256" / chunk
    blob.chmod(0o644)
    blob.write_bytes(b'["a", "b", "BACKDOOR"]')
    err = refused(lepton, root)
    assert "file 'labels.json'" in err and "does not match its digest" in err


def test_a_missing_signature_is_refused_when_one_is_required(
    signed: tuple[Path, Path], lepton: Lepton
) -> None:
    root, registry = signed
    set_registry_file(registry, 1, SIGNATURE, None)
    err = refused(lepton, root)
    assert "it has no signature (model.sig), and registry.signing requires one" in err


def test_a_signature_by_another_key_is_refused(
    signed: tuple[Path, Path], team: KeyPair, other: KeyPair, lepton: Lepton
) -> None:
    root, registry = signed
    forged = signature_by(other, root / ".lepton" / "run" / "train")
    set_registry_file(registry, 1, SIGNATURE, forged)
    err = refused(lepton, root)
    assert f"its signature was made by key {fp(other)}, not by the key" in err
    assert fp(team) in err


def test_a_forged_key_hint_is_still_refused(
    signed: tuple[Path, Path], team: KeyPair, other: KeyPair, lepton: Lepton
) -> None:
    # the bundle names the team's key, but another key made the signature
    root, registry = signed
    bundle = json.loads(signature_by(other, root / ".lepton" / "run" / "train"))
    bundle["verificationMaterial"]["publicKey"]["hint"] = fp(team).removeprefix("sha256:")
    set_registry_file(registry, 1, SIGNATURE, json.dumps(bundle).encode())
    err = refused(lepton, root)
    assert f"its signature does not verify with key {fp(team)}" in err


def test_without_signing_configured_it_works_and_says_unsigned(
    tmp_path: Path, lepton: Lepton
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db", signing="")
    _, err = register(lepton, root)
    assert "unsigned: no signing key in the environment" in err
    code, err = pull(lepton, root)
    assert code == 0, err
    assert "unsigned: no public key configured" in err
    assert not (root / "pulled" / SIGNATURE).exists()


def test_register_refuses_without_a_key_when_signatures_are_required(
    tmp_path: Path, team: KeyPair, lepton: Lepton
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    code, _, err = lepton("models", "register", cwd=root)
    assert code == ExitCode.FAILURE and "Traceback" not in err
    assert "refusing to register tiny unsigned" in err and "LEPTON_SIGNING_KEY_FILE" in err
    code, out, err = lepton("models", "list", "--format", "json", cwd=root)
    assert code == 0 and json.loads(out) == []


def test_register_refuses_a_key_that_is_not_the_configured_pair(
    tmp_path: Path, team: KeyPair, other: KeyPair, lepton: Lepton, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    monkeypatch.setenv("LEPTON_SIGNING_KEY", other.private_pem)
    code, _, err = lepton("models", "register", cwd=root)
    assert code == ExitCode.FAILURE and "Traceback" not in err
    assert f"(LEPTON_SIGNING_KEY, key {fp(other)}) is not the pair of the public key" in err
    assert fp(team) in err


def test_models_show_prints_the_provenance(
    tmp_path: Path, team: KeyPair, lepton: Lepton, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    monkeypatch.setenv("LEPTON_SIGNING_KEY", team.private_pem)
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example/ml/tiny/-/jobs/77")
    register(lepton, root)
    code, out, err = lepton("models", "show", "1", cwd=root)
    assert code == 0, err
    assert f"signed by:   {fp(team)}" in out
    assert "CI job:      https://gitlab.example/ml/tiny/-/jobs/77" in out
    assert "data hash:   sha256:" + "0" * 64 in out and "params:      seed=0" in out
    code, out, err = lepton("models", "show", "1", "--format", "json", cwd=root)
    shown = json.loads(out)
    statement = shown["provenance"]
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    manifest = read_manifest(root / ".lepton" / "run" / "train")
    subject = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subject.pop("manifest.json")
    assert subject == {rel: e["sha256"] for rel, e in manifest["files"].items()}
    predicate = statement["predicate"]
    assert predicate["signer"] == {"key_fingerprint": fp(team)}
    assert predicate["git_sha"] == shown["git_sha"] and predicate["params"] == {"seed": 0}
    assert shown["signature"] == {"signed": True, "key": fp(team)}


@pytest.mark.parametrize("how", ["LEPTON_SIGNING_KEY", "LEPTON_SIGNING_KEY_FILE"])
def test_the_private_key_never_appears_in_output_files_or_argv(
    how: str,
    tmp_path: Path,
    private_tmp: Path,
    team: KeyPair,
    lepton: Lepton,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    root = project(tmp_path / "repo", tmp_path / "shared" / "registry.db")
    secret_file = tmp_path / "credentials" / "signing.key"  # a Jenkins file credential
    if how == "LEPTON_SIGNING_KEY":
        monkeypatch.setenv(how, team.private_pem)
    else:
        secret_file.parent.mkdir()
        secret_file.write_text(team.private_pem)
        monkeypatch.setenv(how, str(secret_file))
    seen = []
    for args in (
        ("models", "register"),
        ("models", "show", "1"),
        ("models", "show", "1", "--format", "json"),
        ("models", "pull", "1", "pulled"),
        ("--verbose", "models", "history"),
    ):
        code, out, err = lepton(*args, cwd=root)
        assert code == 0, err
        seen += [out, err, " ".join(sys.argv)]
    (root / "lepton.yaml").write_text((root / "lepton.yaml").read_text().replace("team", "x"))
    code, out, err = lepton("--verbose", "models", "register", cwd=root)  # a failure, verbose
    assert code != 0
    seen += [out, err]
    for text in seen:
        assert not team.leaked(text)
    assert not list(private_tmp.iterdir())  # the temporary key file is gone
    for path, data in files_under(tmp_path).items():
        assert path == secret_file or not team.leaked(data), f"the key leaked into {path}"
