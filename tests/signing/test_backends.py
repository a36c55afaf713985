"""Every registry backend keeps a version's signature and provenance, so a pull anywhere
verifies it; the set-up in docs/registry.md works as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lepton_ci.registration import register_run
from lepton_ci.registry import Registry
from lepton_ci.runtime.manifest import PROVENANCE, SIGNATURE
from lepton_ci.signing import Policy, fingerprint, private_key_from_env
from lepton_ci.store.local import LocalStore
from lepton_ci.store.versions import pull
from tests.registry.conftest import evaluation
from tests.services import make_tiny_model

from .conftest import KeyPair, Lepton, private, project, register

ROOT = Path(__file__).resolve().parents[2]


def test_each_backend_keeps_the_signature_and_the_provenance(
    registry: Registry, name: str, team: KeyPair, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    make_tiny_model(run / "train", name=name)
    (run / "evaluate").mkdir()
    (run / "evaluate" / "metrics.json").write_text(json.dumps(evaluation(0.95, model=name)))
    store = LocalStore(tmp_path / "artifacts")
    policy = Policy(team.public, True)
    done = register_run(registry, run, model=name, store=store, key=private(team), policy=policy)
    assert done.signer == fingerprint(team.public.read_bytes())
    version = done.version.version
    statement = json.loads(registry.read_file(name, version, PROVENANCE) or b"{}")
    assert statement["predicate"]["signer"] == {"key_fingerprint": done.signer}
    pulled = pull(registry, store, registry.get(name, version), tmp_path / "pulled", policy)
    assert (pulled / SIGNATURE).read_bytes() == registry.read_file(name, version, SIGNATURE)


def shell_blocks(section: str) -> list[str]:
    text = (ROOT / "docs" / "registry.md").read_text()
    part = text.split(f"### {section}", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", part, re.DOTALL)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_documented_key_set_up_signs_and_verifies(
    tmp_path: Path, lepton: Lepton, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    make_keys = shell_blocks("Signing set-up (copy-paste)")[0]
    subprocess.run(["bash", "-euc", make_keys], cwd=root, check=True, capture_output=True)
    spec = project(root, tmp_path / "shared" / "registry.db", signing="")
    text = (spec / "lepton.yaml").read_text()
    (spec / "lepton.yaml").write_text(
        text + "  signing:\n    public_key: keys/lepton-signing.pub\n    required: true\n"
    )
    monkeypatch.setenv("LEPTON_SIGNING_KEY_FILE", str(root / "lepton-signing.key"))
    key = private_key_from_env()
    assert key is not None and b"PRIVATE KEY" in key.pem
    _, err = register(lepton, root)
    expected = fingerprint((root / "keys" / "lepton-signing.pub").read_bytes())
    assert f"signed the model directory with key {expected}" in err
    monkeypatch.delenv("LEPTON_SIGNING_KEY_FILE")
    code, _, err = lepton("models", "pull", "latest", str(tmp_path / "m"), cwd=root)
    assert code == 0 and f"signature verified: signed by key {expected}" in err
