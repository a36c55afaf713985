"""Model signatures (issue 10 item 2): a registered model directory signed in the OpenSSF Model
Signing format, verified before anything loads it.

At register the directory (every model file *and* ``manifest.json``) is signed with an EC key
(``model-signing``, key-based: a Sigstore bundle ``model.sig`` holding a DSSE envelope whose
in-toto payload lists each file's sha256). The private key comes from the environment only —
``LEPTON_SIGNING_KEY`` (the PEM text: a masked CI variable) or ``LEPTON_SIGNING_KEY_FILE`` (a
path: a Jenkins file credential, a GitLab file variable) — never from argv, and it is never
printed. The public key is configured in the spec (``registry.signing.public_key``; without a
spec, as in the serving image: ``LEPTON_SIGNING_PUBLIC_KEY``).

``serve``, ``deploy`` and ``models pull`` call :func:`check` after the sha256 manifest check:
a file changed behind a rewritten manifest, a missing signature where one is required and a
signature by another key are refused (:class:`SignatureRefused`), fail closed. With no public
key configured the sha256 manifest check alone runs, and :func:`check` says so ("unsigned").

``model-signing`` and ``cryptography`` are imported inside the functions that need them (the
``sign`` extra): ``lepton-ci --help`` and the generator never load them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton_ci.errors import LeptonError, MissingDependency
from lepton_ci.redaction import redact_values
from lepton_ci.runtime.manifest import SIDE_FILES, SIGNATURE, TamperedArtifact

if TYPE_CHECKING:
    from lepton_ci.spec.model import Spec

KEY_VAR = "LEPTON_SIGNING_KEY"  # PEM text of the private key
KEY_FILE_VAR = "LEPTON_SIGNING_KEY_FILE"  # or a file holding it
PASSWORD_VAR = "LEPTON_SIGNING_KEY_PASSWORD"  # the key's passphrase, if it is encrypted
PUBLIC_KEY_VAR = "LEPTON_SIGNING_PUBLIC_KEY"  # a PEM file: the spec's key where no spec is
REQUIRED_VAR = "LEPTON_SIGNING_REQUIRED"  # "1": refuse unsigned models (with PUBLIC_KEY_VAR)


class SignatureRefused(TamperedArtifact):
    """A signed model does not verify: changed files, another key, an unreadable bundle."""


class MissingSignature(SignatureRefused):
    """A public key is configured with ``required: true`` and the model has no signature."""


class SigningKeyError(LeptonError):
    """The signing key (private or public) is missing, unreadable or not the configured pair."""


@dataclass(frozen=True)
class Policy:
    """What verification demands: the public key to check with, and whether a signature must
    be there. ``public_key`` None: no signing configured (sha256 manifest check only)."""

    public_key: Path | None = None
    required: bool = False
    source: str = "registry.signing.public_key"  # where the key was configured, for messages


UNSIGNED = Policy()


def policy_from_spec(spec: Spec | None, root: Path = Path(".")) -> Policy:
    """The spec's ``registry.signing`` (its key relative to ``root``), else the environment's
    ``LEPTON_SIGNING_PUBLIC_KEY`` / ``LEPTON_SIGNING_REQUIRED``, else :data:`UNSIGNED`."""
    signing = spec.registry.signing if spec is not None else None
    if signing is not None:
        path = Path(signing.public_key)
        return Policy(path if path.is_absolute() else Path(root) / path, signing.required)
    return policy_from_env()


def policy_from_env(env: Mapping[str, str] | None = None) -> Policy:
    env = os.environ if env is None else env
    key = env.get(PUBLIC_KEY_VAR)
    if not key:
        return UNSIGNED
    required = env.get(REQUIRED_VAR, "").strip().lower() in ("1", "true", "yes")
    return Policy(Path(key), required, PUBLIC_KEY_VAR)


def policy_env(policy: Policy) -> dict[str, str]:
    """The environment that makes :func:`policy_from_env` return ``policy`` (serve workers)."""
    if policy.public_key is None:
        return {}
    return {
        PUBLIC_KEY_VAR: str(Path(policy.public_key).absolute()),
        REQUIRED_VAR: "1" if policy.required else "",
    }


def _model_signing() -> Any:
    try:
        import model_signing
    except ImportError:
        raise MissingDependency("model-signing", "sign") from None
    return model_signing


def fingerprint(public_pem: bytes) -> str:
    """``sha256:<hex>`` of the key's PEM SubjectPublicKeyInfo: the identifier model-signing
    writes into the bundle (``verificationMaterial.publicKey.hint``)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_pem)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(pem).hexdigest()


def read_public_key(policy: Policy) -> tuple[bytes, str]:
    """The configured public key's PEM bytes and fingerprint, or :class:`SigningKeyError`."""
    assert policy.public_key is not None
    path = Path(policy.public_key)
    try:
        pem = path.read_bytes()
        return pem, fingerprint(pem)
    except OSError as exc:
        raise SigningKeyError(
            f"cannot read the public key {path} ({policy.source}): {exc.strerror or exc}",
            hint="commit the team's public key (a PEM file) and point registry.signing."
            "public_key at it; see docs/registry.md#signing",
        ) from None
    except (ValueError, TypeError):
        raise SigningKeyError(
            f"{path} ({policy.source}) is not a PEM public key",
            hint="export it with `openssl ec -in signing.key -pubout -out signing.pub`",
        ) from None


@dataclass(frozen=True)
class PrivateKey:
    """The signing key from the environment. Not in repr: never in a log."""

    pem: bytes
    password: str | None
    origin: str  # which variable, for messages

    def __repr__(self) -> str:
        return f"PrivateKey(from {self.origin})"

    @property
    def secrets(self) -> list[str]:
        text = self.pem.decode("ascii", "replace")
        body = "".join(line for line in text.splitlines() if "-----" not in line)
        return [s for s in (text.strip(), body, *text.splitlines(), self.password) if s]


def private_key_from_env(env: Mapping[str, str] | None = None) -> PrivateKey | None:
    """``LEPTON_SIGNING_KEY`` (PEM text) or the file ``LEPTON_SIGNING_KEY_FILE`` names, or None."""
    env = os.environ if env is None else env
    password = env.get(PASSWORD_VAR) or None
    if env.get(KEY_VAR):
        return PrivateKey(env[KEY_VAR].strip().encode() + b"\n", password, KEY_VAR)
    if env.get(KEY_FILE_VAR):
        path = Path(env[KEY_FILE_VAR])
        try:
            return PrivateKey(path.read_bytes(), password, KEY_FILE_VAR)
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read the signing key {KEY_FILE_VAR} names: {exc.strerror or exc}",
                hint="bind the key as a file credential (Jenkins) / file variable (GitLab)",
            ) from None
    return None


def private_fingerprint(key: PrivateKey) -> str:
    """The fingerprint of the private key's public half; the key is checked to be EC."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        loaded = serialization.load_pem_private_key(
            key.pem, key.password.encode() if key.password else None
        )
    except (ValueError, TypeError) as exc:
        shown = redact_values(str(exc), key.secrets)
        raise SigningKeyError(
            f"{key.origin} is not a readable PEM private key ({shown})",
            hint=f"give the PEM text of an EC P-256 key (an encrypted one needs {PASSWORD_VAR}); "
            "see docs/registry.md#signing",
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(
            f"{key.origin} is not an elliptic-curve key",
            hint="generate one with `openssl ecparam -name prime256v1 -genkey -noout`",
        )
    pem = loaded.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return fingerprint(pem)


@contextlib.contextmanager
def _key_file(key: PrivateKey) -> Iterator[Path]:
    """The key in a 0600 file of a private temporary directory, deleted afterwards
    (model-signing reads keys from paths)."""
    folder = Path(tempfile.mkdtemp(prefix="lepton-sign-"))
    path = folder / "key.pem"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.pem)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


def _hashing(model_signing: Any) -> Any:
    """Every file of the directory (manifest.json included, git files too) but the side
    files: the same configuration signs and verifies."""
    return (
        model_signing.hashing.Config()
        .use_file_serialization(hashing_algorithm="sha256")
        .set_ignored_paths(paths=list(SIDE_FILES), ignore_git_paths=False)
    )


def sign(model_dir: Path, key: PrivateKey, policy: Policy = UNSIGNED) -> tuple[bytes, str]:
    """Sign ``model_dir`` (already verified against its manifest); return the bundle's bytes
    and the signer's fingerprint. With a configured public key, refuse a key that is not its
    pair (the signature would be refused at every pull and deploy)."""
    signer = private_fingerprint(key)
    if policy.public_key is not None:
        _pem, expected = read_public_key(policy)
        if signer != expected:
            raise SigningKeyError(
                f"the signing key ({key.origin}, key {signer}) is not the pair of the public "
                f"key {policy.public_key} ({policy.source}, key {expected}): its signatures "
                "would be refused",
                hint="give the CI credential of the key whose public half the spec names, or "
                "commit the new public key",
            )
    model_signing = _model_signing()
    out = Path(tempfile.mkdtemp(prefix="lepton-sig-"))
    try:
        with _key_file(key) as path:
            try:
                model_signing.signing.Config().use_elliptic_key_signer(
                    private_key=path, password=key.password
                ).set_hashing_config(_hashing(model_signing)).sign(Path(model_dir), out / SIGNATURE)
            except Exception as exc:  # a library's words: never the key in them
                raise SigningKeyError(
                    f"signing {model_dir} failed: "
                    f"{redact_values(f'{type(exc).__name__}: {exc}', key.secrets)}"
                ) from None
        return (out / SIGNATURE).read_bytes(), signer
    finally:
        with contextlib.suppress(OSError):
            (out / SIGNATURE).unlink()
        with contextlib.suppress(OSError):
            out.rmdir()


def bundle_key_hint(bundle: bytes) -> str | None:
    """The signer fingerprint a bundle names (``sha256:<hex>``), unverified; None if absent."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        hint = json.loads(bundle)["verificationMaterial"]["publicKey"]["hint"]
        return f"sha256:{hint}" if hint else None
    return None


def _signed_files(bundle: bytes) -> dict[str, str]:
    """``{path: sha256 hex}`` the bundle's payload lists (read after verification)."""
    payload = json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))
    return {str(r["name"]): str(r["digest"]) for r in payload["predicate"]["resources"]}


def _differences(model_dir: Path, bundle: bytes) -> str:
    from lepton_ci.runtime.hashing import sha256_file

    try:
        signed = _signed_files(bundle)
    except (ValueError, KeyError, TypeError):
        return "its files differ from the signed ones"
    actual = {
        p.relative_to(model_dir).as_posix(): p
        for p in model_dir.rglob("*")
        if p.is_file() and p.relative_to(model_dir).as_posix() not in SIDE_FILES
    }
    changed = [r for r in sorted(set(signed) & set(actual)) if sha256_file(actual[r]) != signed[r]]
    notes = [f"{r!r} differs from the signed digest" for r in changed]
    notes += [f"{r!r} is not in the signature" for r in sorted(set(actual) - set(signed))]
    notes += [f"signed file {r!r} is missing" for r in sorted(set(signed) - set(actual))]
    return "; ".join(notes) or "its files differ from the signed ones"


def _public_key_for(bundle: bytes, policy: Policy, what: str) -> tuple[bytes, str]:
    """The policy's key (PEM, fingerprint); refuse a bundle that names another signer."""
    public_pem, expected = read_public_key(policy)
    claimed = bundle_key_hint(bundle)
    if claimed is not None and claimed != expected:
        raise SignatureRefused(
            f"refusing {what}: its signature was made by key {claimed}, not by the key "
            f"{policy.public_key} ({policy.source}) names ({expected})",
            hint="the model was signed by another key: re-register it with the team's signing "
            "key, or, if the key was rotated, configure the new public key",
        )
    return public_pem, expected


def verify_digests(bundle: bytes, policy: Policy, digests: Mapping[str, str], what: str) -> str:
    """Without the files (an image deploy): the bundle is signed by the policy's key and lists
    exactly ``digests`` (``{path: sha256 hex}``, the version's file record); return the key's
    fingerprint. The DSSE envelope is checked as model-signing checks it (PAE, ECDSA)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public_pem, expected = _public_key_for(bundle, policy, what)
    try:
        envelope = json.loads(bundle)["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"])
        kind = str(envelope["payloadType"]).encode()
        signature = base64.b64decode(envelope["signatures"][0]["sig"])
        signed = _signed_files(bundle)
    except (ValueError, KeyError, TypeError, IndexError):
        raise SignatureRefused(
            f"refusing {what}: {SIGNATURE} is not a readable signature bundle",
            hint="re-register the version to sign it again",
        ) from None
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    algorithm = {256: hashes.SHA256(), 384: hashes.SHA384()}.get(key.curve.key_size)
    pae = b"DSSEv1 %d %s %d " % (len(kind), kind, len(payload)) + payload
    try:
        key.verify(signature, pae, ec.ECDSA(algorithm or hashes.SHA512()))
    except InvalidSignature:
        raise SignatureRefused(
            f"refusing {what}: its signature does not verify with key {expected} "
            f"({policy.public_key}): forged, or made by another key",
            hint="re-register the model with the team's signing key",
        ) from None
    common = sorted(set(signed) & set(digests))
    notes = [f"{r!r} differs from the signed digest" for r in common if signed[r] != digests[r]]
    notes += [f"{r!r} is not in the signature" for r in sorted(set(digests) - set(signed))]
    notes += [f"signed file {r!r} is missing" for r in sorted(set(signed) - set(digests))]
    if notes:
        raise SignatureRefused(
            f"refusing {what}: its files are not the ones key {expected} signed: "
            + "; ".join(notes),
            hint="the version's file record was rewritten after it was signed at register; "
            "re-register the run, and find out who can write the registry",
        )
    return expected


def verify(model_dir: Path, bundle: bytes, policy: Policy) -> str:
    """Check ``bundle`` signs exactly the files of ``model_dir`` with the policy's key; return
    the key's fingerprint. :class:`SignatureRefused` names the key or the files that differ."""
    model_dir = Path(model_dir)
    public_pem, expected = _public_key_for(bundle, policy, str(model_dir))
    model_signing = _model_signing()
    from cryptography.exceptions import InvalidSignature

    folder = Path(tempfile.mkdtemp(prefix="lepton-verify-"))
    try:
        (folder / SIGNATURE).write_bytes(bundle)
        (folder / "key.pub").write_bytes(public_pem)
        model_signing.verifying.Config().use_elliptic_key_verifier(
            public_key=folder / "key.pub"
        ).set_hashing_config(_hashing(model_signing)).verify(model_dir, folder / SIGNATURE)
    except InvalidSignature:
        raise SignatureRefused(
            f"refusing {model_dir}: its signature does not verify with key {expected} "
            f"({policy.public_key}): forged, or made by another key",
            hint="re-register the model with the team's signing key",
        ) from None
    except ValueError as exc:
        if str(exc).startswith("Signature mismatch"):
            raise SignatureRefused(
                f"refusing {model_dir}: the files are not the ones key {expected} signed: "
                f"{_differences(model_dir, bundle)}",
                hint="the model was changed after it was signed at register (a rewritten "
                "manifest too); pull or re-register the version, and find out who can write "
                "there",
            ) from None
        raise SignatureRefused(
            f"refusing {model_dir}: its signature was not accepted: {exc}",
            hint="re-register the model with the team's signing key",
        ) from None
    except Exception as exc:  # an unreadable bundle: protobuf, JSON, base64 errors
        raise SignatureRefused(
            f"refusing {model_dir}: {SIGNATURE} is not a readable signature bundle "
            f"({type(exc).__name__})",
            hint="re-register the version to sign it again",
        ) from None
    finally:
        for name in (SIGNATURE, "key.pub"):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
    return expected


def check(model_dir: Path, policy: Policy, bundle: bytes | None = None) -> str:
    """After :func:`~lepton_ci.runtime.manifest.verify_artifacts`: verify the signature
    (``bundle``, else ``model_dir/model.sig``) as ``policy`` demands; return a line for the
    log saying what was checked. Raises :class:`SignatureRefused` / :class:`MissingSignature`."""
    model_dir = Path(model_dir)
    path = model_dir / SIGNATURE
    if bundle is None and path.is_file():
        bundle = path.read_bytes()
    if policy.public_key is None or bundle is None:
        return unsigned(policy, str(model_dir), bundle is not None)
    return f"signature verified: signed by key {verify(model_dir, bundle, policy)}"


def unsigned(policy: Policy, what: str, present: bool = False) -> str:
    """What a check without a signature to verify says; :class:`MissingSignature` when the
    policy requires one (``present``: a signature is there, but no key to check it with)."""
    if policy.public_key is None:
        seen = " (a signature is present, but not checked)" if present else ""
        return (
            "unsigned: no public key configured (registry.signing), the files are checked "
            f"against their sha256 manifest only{seen}"
        )
    if policy.required:
        raise MissingSignature(
            f"refusing {what}: it has no signature ({SIGNATURE}), and "
            f"{_requirer(policy)} requires one",
            hint="register it again with the signing key in the environment "
            f"({KEY_VAR} / {KEY_FILE_VAR}); an older unsigned version can be allowed with "
            "registry.signing.required: false",
        )
    return (
        f"unsigned: no {SIGNATURE} (registry.signing.required is false), the files are "
        "checked against their sha256 manifest only"
    )


def _requirer(policy: Policy) -> str:
    return f"{REQUIRED_VAR}=1" if policy.source == PUBLIC_KEY_VAR else "registry.signing"


def verify_model(model_dir: Path, policy: Policy, bundle: bytes | None = None) -> tuple[Any, str]:
    """The sha256 manifest check, then :func:`check`: ``(manifest, log line)``."""
    from lepton_ci.runtime.manifest import verify_artifacts

    manifest = verify_artifacts(model_dir)
    return manifest, check(model_dir, policy, bundle)
