"""Fixtures: the team's EC P-256 signing key and another one, a checkout whose spec configures
``registry.signing``, and a run directory (a tiny real model, a passing evaluation)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from lepton_ci.runtime.hashing import sha256_file
from lepton_ci.signing import PrivateKey, sign
from tests.registry.conftest import evaluation, mlflow_uri, name, postgres_url, registry  # noqa: F401
from tests.services import make_tiny_model, postgres_server  # noqa: F401
from tests.store.conftest import Lepton, lepton  # noqa: F401

MODEL = "tiny"
SPEC = """\
version: 1
project: {{name: Tiny, model: tiny}}
train: {{entrypoint: tiny.train:train}}
evaluate: {{entrypoint: tiny.evaluate:evaluate}}
gates: [accuracy >= 0.9]
registry:
  path: '{registry}'
{signing}"""
SIGNING = "  signing: {public_key: keys/team.pub}\n"


@dataclass(frozen=True)
class KeyPair:
    private_pem: str  # only ever in the environment of a test, never in a file of the workspace
    public: Path  # the PEM file a spec names

    @property
    def canaries(self) -> list[str]:
        """The lines of the key's base64 body: none may appear in output, files or argv."""
        return [line for line in self.private_pem.splitlines() if "-----" not in line]

    def leaked(self, text: str | bytes) -> bool:
        data = text.encode() if isinstance(text, str) else text
        return any(line.encode() in data for line in self.canaries)


def private(key: KeyPair) -> PrivateKey:
    """The key as `models register` reads it from the environment."""
    return PrivateKey(key.private_pem.encode(), None, "test")


def signature_by(key: KeyPair, model_dir: Path) -> bytes:
    """A valid bundle over ``model_dir`` made with ``key``."""
    return sign(model_dir, private(key))[0]


def make_key(public: Path) -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public.parent.mkdir(parents=True, exist_ok=True)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return KeyPair(pem, public)


@pytest.fixture
def team(tmp_path: Path) -> KeyPair:
    return make_key(tmp_path / "repo" / "keys" / "team.pub")


@pytest.fixture
def other(tmp_path: Path) -> KeyPair:
    return make_key(tmp_path / "elsewhere" / "other.pub")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No signing or CI settings from this machine; the artifact store in the test's own
    shared directory."""
    for var in (
        "LEPTON_SIGNING_KEY",
        "LEPTON_SIGNING_KEY_FILE",
        "LEPTON_SIGNING_KEY_PASSWORD",
        "LEPTON_SIGNING_PUBLIC_KEY",
        "LEPTON_SIGNING_REQUIRED",
        "LEPTON_REGISTRY",
        "CI_JOB_URL",
        "BUILD_URL",
        "CI_PIPELINE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEPTON_ARTIFACTS", str(tmp_path / "shared" / "artifacts"))


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Temporary files inside the test's directory, so a key left in one is found."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    return tmp


def project(root: Path, database: Path, signing: str = SIGNING) -> Path:
    """A checkout whose registry is the shared SQLite file ``database``, with a trained and
    evaluated run directory."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "lepton.yaml").write_text(SPEC.format(registry=database, signing=signing))
    run = root / ".lepton" / "run"
    make_tiny_model(run / "train", name=MODEL)
    (run / "evaluate").mkdir(parents=True, exist_ok=True)
    (run / "evaluate" / "metrics.json").write_text(json.dumps(evaluation(0.95, model=MODEL)))
    return root


def register(cli: Lepton, root: Path) -> tuple[int, str]:
    """`lepton-ci models register` in ``root``: (version, stderr)."""
    code, out, err = cli("models", "register", "--format", "json", cwd=root)
    assert code == 0, err
    return int(json.loads(out)["version"]), err


def registry_file(database: Path, version: int, key: str) -> bytes:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT data FROM files WHERE name = ? AND version = ? AND key = ?",
            (MODEL, version, key),
        ).fetchone()
    assert row is not None, f"version {version} has no {key}"
    return bytes(row[0])


def set_registry_file(database: Path, version: int, key: str, data: bytes | None) -> None:
    """What someone who can write the registry database does: replace or delete a file."""
    with sqlite3.connect(database) as db:
        db.execute(
            "DELETE FROM files WHERE name = ? AND version = ? AND key = ?", (MODEL, version, key)
        )
        if data is not None:
            db.execute(
                "INSERT INTO files (name, version, key, data) VALUES (?, ?, ?, ?)",
                (MODEL, version, key, data),
            )


def rewrite(model_dir: Path, rel: str, data: bytes) -> None:
    """Change a model file *and* its manifest entry, so the sha256 manifest check passes."""
    (model_dir / rel).write_bytes(data)
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][rel] = {"sha256": sha256_file(model_dir / rel), "size": len(data)}
    path.write_text(json.dumps(manifest))


def files_under(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
