"""The pipeline steps on the registry: ``models register`` and ``models promote``.

``register`` turns a run directory (train manifest + evaluation result) into a registry version,
but only when the evaluation exists and passed its gates; it then hands the version to later
jobs in ``register/model.env``. ``promote`` moves an alias, champion only through passed gates
or a forced, logged override.

A module above the registry, the artifact store, signing and the run's manifest, which it
brings together (so none of those imports another's steps: `.importlinter`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton_ci.errors import GateFailed, LeptonError, StepError
from lepton_ci.identity import identity_digest
from lepton_ci.registry.base import CHAMPION, ModelVersion, Registry, UnknownVersion
from lepton_ci.run_dir import ModelEnv, RunDir

if TYPE_CHECKING:
    from lepton_ci.signing import Policy, PrivateKey
    from lepton_ci.store import ArtifactStore
    from lepton_ci.store.versions import Stored

SMALL_FILES = ("samples.npz",)  # evaluation files kept with the version (paired bootstrap)
CI_URL_VARIABLES = ("CI_PIPELINE_URL", "BUILD_URL")


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise LeptonError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise LeptonError(f"{what} {path} is not a JSON object")
    return data


@dataclass(frozen=True)
class Registered:
    version: ModelVersion
    model_env: Path
    reused: bool = False  # the artifact was registered already (a retried job, a rerun)
    stored: Stored | None = None  # the model files put in the artifact store
    signer: str | None = None  # the signing key's fingerprint; None: registered unsigned


def register_run(
    registry: Registry,
    run_dir: str | Path,
    *,
    model: str,
    store: ArtifactStore | None = None,
    key: PrivateKey | None = None,
    policy: Policy | None = None,
) -> Registered:
    """Register the run's trained model if its evaluation passed; write ``register/model.env``.

    With a ``store``, the model files go into the artifact store first and the version keeps
    their file record (``artifacts.json``), so ``models pull`` and ``deploy --version`` work
    without the run directory.

    With a signing ``key`` the model directory (files and manifest) is signed; the signature
    (``model.sig``) and the in-toto provenance statement (``provenance.intoto.json``) are kept
    with the version. ``policy`` (the spec's ``registry.signing``) refuses a key that is not
    the configured public key's pair, and a missing key where signatures are required.

    Refuses (:class:`GateFailed`, exit 4) when the evaluation is missing or failed a gate; no
    registry entry is written then.
    """
    layout = RunDir.at(run_dir)
    manifest_path = layout.manifest
    metrics_path = layout.metrics_json
    try:
        manifest_path.read_bytes()
    except FileNotFoundError:
        raise StepError(
            f"no trained model to register: {manifest_path} is missing",
            hint="run `lepton-ci train` first (in CI: the train job's artifacts are missing)",
        ) from None
    _verify_artifacts(layout.train_dir)
    manifest = read_json(manifest_path, "train manifest")
    try:
        evaluation = read_json(metrics_path, "evaluation result")
    except FileNotFoundError:
        raise GateFailed(
            f"refusing to register {model}: no evaluation result at {metrics_path}",
            hint="run `lepton-ci evaluate` first; only evaluated models that pass their gates "
            "are registered",
        ) from None
    for source, data in (("train manifest", manifest), ("evaluation result", evaluation)):
        if data.get("model") not in (None, model):
            raise LeptonError(
                f"the {source} is for model {data.get('model')!r}, not {model!r}",
                hint="the run directory belongs to another model; check --run-dir and --spec",
            )
    gates = list(evaluation.get("gates") or [])
    failed = [g for g in gates if not g.get("passed") and not g.get("skipped")]
    if not evaluation.get("passed", not failed) or failed:
        names = ", ".join(str(g.get("name") or g.get("metric")) for g in failed) or "overall"
        raise GateFailed(
            f"refusing to register {model}: the evaluation did not pass its quality gates "
            f"({names})",
            hint=f"see {layout.junit} for values and thresholds; nothing was registered",
        )
    files = {}
    for small in SMALL_FILES:
        path = layout.evaluate_dir / small
        if path.is_file():
            files[small] = path.read_bytes()
    files["metrics.json"] = metrics_path.read_bytes()
    git = manifest.get("git") or {}
    digest = identity_digest(manifest)  # timings and timestamps are not part of the artifact
    side, signer = _signature_files(layout.train_dir, manifest, model, digest, key, policy)
    files.update(side)
    stored = None
    if store is not None:
        from lepton_ci.store.versions import RECORD, store_model_dir

        stored = store_model_dir(store, layout.train_dir, manifest)
        files[RECORD] = json.dumps(stored.record, indent=2, sort_keys=True).encode()
    # a retried CI job or a rerun that hit the step cache registers nothing new: the registry
    # returns the version that already holds this artifact (a unique key, not a read first)
    version, created = registry.register_artifact(
        model,
        manifest=manifest,
        metrics=dict(evaluation.get("metrics") or {}),
        gates=gates,
        git_sha=git.get("commit"),
        data_hash=manifest.get("data_hash"),
        params=dict(manifest.get("params") or {}),
        files=files,
        manifest_digest=digest,
    )
    reused = not created
    env_path = layout.write_model_env(ModelEnv(model, version.version))
    return Registered(version, env_path, reused, stored, signer)


def _signature_files(
    model_dir: Path,
    manifest: dict[str, Any],
    model: str,
    digest: str,
    key: PrivateKey | None,
    policy: Policy | None,
) -> tuple[dict[str, bytes], str | None]:
    """``model.sig`` (with a key) and ``provenance.intoto.json`` for the version's files."""
    from lepton_ci.runtime.manifest import PROVENANCE, SIGNATURE
    from lepton_ci.signing import KEY_FILE_VAR, KEY_VAR, UNSIGNED, SigningKeyError, sign
    from lepton_ci.signing.provenance import statement

    policy = policy or UNSIGNED
    files: dict[str, bytes] = {}
    signer = None
    if key is not None:
        files[SIGNATURE], signer = sign(model_dir, key, policy)
    elif policy.public_key is not None and policy.required:
        raise SigningKeyError(
            f"refusing to register {model} unsigned: registry.signing requires a signature and "
            f"neither {KEY_VAR} nor {KEY_FILE_VAR} is set",
            hint=f"bind the signing key to the register job as {KEY_FILE_VAR} (a Jenkins file "
            f"credential / GitLab file variable) or {KEY_VAR} (masked); nothing was registered",
        )
    provenance = statement(model_dir, manifest, model=model, artifact_digest=digest, signer=signer)
    files[PROVENANCE] = json.dumps(provenance, indent=2, sort_keys=True).encode()
    return files, signer


def promote(
    registry: Registry,
    *,
    model: str,
    version: int,
    alias: str = CHAMPION,
    force: bool = False,
    reason: str | None = None,
    actor: str | None = None,
) -> ModelVersion:
    """Point ``alias`` at the version; see :meth:`Registry.set_alias` for the champion rule."""
    if force and not (reason or "").strip():
        raise LeptonError(
            "--force needs --reason TEXT", hint="the reason is logged in `lepton-ci models history`"
        )
    if reason is None:
        ci_url = next((os.environ[v] for v in CI_URL_VARIABLES if os.environ.get(v)), None)
        reason = "promoted by `lepton-ci models promote`" + (f" in {ci_url}" if ci_url else "")
    registry.set_alias(model, version, alias, reason=reason, actor=actor, forced=force)
    return registry.get(model, version)


def resolve(registry: Registry, model: str, ref: str) -> ModelVersion:
    """A version by number (``3``, ``v3``), alias (``champion``, ``@champion``) or ``latest``."""
    text = ref.strip()
    number = text[1:] if text[:1] in "vV" and text[1:].isdigit() else text
    if number.isdigit():
        return registry.get(model, int(number))
    if text == "latest":
        found = registry.latest(model)
    else:
        found = registry.by_alias(model, text.lstrip("@"))
    if found is None:
        raise UnknownVersion(model, ref)
    return found


def read_model_env(run_dir: str | Path) -> tuple[str, int]:
    """(name, version) the register job handed on in ``register/model.env``."""
    run = RunDir.at(run_dir)
    found = run.read_model_env()
    if found is None:
        raise StepError(
            f"no registered version to act on: {run.model_env} is missing",
            hint="give a VERSION, or run `lepton-ci models register` first",
        )
    return found.name, found.version


def _verify_artifacts(model_dir: Path) -> None:
    """Refuse tampered or incomplete artifacts: always (the check needs nothing optional)."""
    from lepton_ci.runtime.manifest import verify_artifacts

    verify_artifacts(model_dir)
