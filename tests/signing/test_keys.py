"""The signing key: from the environment only, never echoed, even by a library's error; the
spec's `registry.signing` is checked like every other section."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_ci.errors import SpecError
from lepton_ci.signing import (
    KEY_FILE_VAR,
    KEY_VAR,
    Policy,
    SigningKeyError,
    private_fingerprint,
    private_key_from_env,
    sign,
)
from lepton_ci.spec.loader import parse_spec
from tests.services import make_tiny_model

from .conftest import KeyPair

BASE = """\
version: 1
project: {name: Tiny, model: tiny}
train: {entrypoint: tiny.train:train}
evaluate: {entrypoint: tiny.evaluate:evaluate}
registry:
"""


def test_the_key_comes_from_the_environment_and_is_not_in_its_repr(
    team: KeyPair, tmp_path: Path
) -> None:
    key = private_key_from_env({KEY_VAR: team.private_pem})
    assert key is not None and not team.leaked(repr(key)) and key.origin == KEY_VAR
    path = tmp_path / "key.pem"
    path.write_text(team.private_pem)
    from_file = private_key_from_env({KEY_FILE_VAR: str(path)})
    assert from_file is not None and from_file.pem.strip() == key.pem.strip()
    assert private_key_from_env({}) is None


def test_a_key_error_that_echoes_the_key_is_redacted(
    team: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization

    def echoing(data: bytes, password: bytes | None) -> None:
        raise ValueError(f"cannot parse {data.decode()}")

    monkeypatch.setattr(serialization, "load_pem_private_key", echoing)
    key = private_key_from_env({KEY_VAR: team.private_pem})
    assert key is not None
    with pytest.raises(SigningKeyError, match="not a readable PEM private key") as caught:
        private_fingerprint(key)
    assert not team.leaked(str(caught.value))


def test_a_signing_failure_that_echoes_the_key_is_redacted(
    team: KeyPair, tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model_signing

    def echoing(self: object, *, private_key: Path, password: str | None = None) -> None:
        raise RuntimeError(f"bad key: {Path(private_key).read_text()}")

    monkeypatch.setattr(model_signing.signing.Config, "use_elliptic_key_signer", echoing)
    key = private_key_from_env({KEY_VAR: team.private_pem})
    assert key is not None
    with pytest.raises(SigningKeyError, match=r"signing .* failed: RuntimeError") as caught:
        sign(make_tiny_model(tmp_path / "m"), key)
    assert not team.leaked(str(caught.value))
    assert not list(private_tmp.iterdir())  # the key's temporary file is gone


def test_an_unreadable_public_key_is_named(team: KeyPair, tmp_path: Path) -> None:
    key = private_key_from_env({KEY_VAR: team.private_pem})
    assert key is not None
    missing = Policy(tmp_path / "nope.pub", True)
    with pytest.raises(SigningKeyError, match=r"cannot read the public key .*nope\.pub"):
        sign(make_tiny_model(tmp_path / "m"), key, missing)


def test_registry_signing_errors_name_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(BASE + "  signing: {public_key: keys/team.pub, requird: false}\n", "lepton.yaml")
    assert "lepton.yaml:6:" in str(caught.value)
    assert "registry.signing.requird: unknown key" in str(caught.value)
    with pytest.raises(SpecError) as caught:
        parse_spec(BASE + "  signing: {required: true}\n", "lepton.yaml")
    assert "registry.signing.public_key" in str(caught.value)


def test_a_key_s_text_in_the_spec_is_refused_and_not_echoed(team: KeyPair) -> None:
    text = team.private_pem.replace("\n", "\\n")
    with pytest.raises(SpecError) as caught:
        parse_spec(BASE + f'  signing: {{public_key: "{text}"}}\n', "lepton.yaml")
    assert "the path of a public key file" in str(caught.value)
    assert not team.leaked(str(caught.value))
