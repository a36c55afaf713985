"""The training manifest (contract 1): what a model artifact is, and proof it is intact.

``manifest.json`` is written last and atomically; its presence means the artifact is complete.
``verify_artifacts`` is what serve and deploy call before trusting a model directory.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lepton_ci import __version__
from lepton_ci.errors import LeptonError
from lepton_ci.fsutil import atomic_write_json
from lepton_ci.gitinfo import git_info
from lepton_ci.identity import identity_digest
from lepton_ci.runtime.hashing import sha256_file

MANIFEST = "manifest.json"
SIGNATURE = "model.sig"  # the Sigstore bundle of a signed version (lepton_ci.signing)
PROVENANCE = "provenance.intoto.json"  # its in-toto provenance statement
#: beside the artifact in a pulled or deployed model directory, never part of it: the signature
#: signs every other file, the manifest included
SIDE_FILES = (SIGNATURE, PROVENANCE)
SCHEMA_VERSION = 1


class TamperedArtifact(LeptonError):
    """A model directory does not match its manifest."""


class IncompleteArtifact(LeptonError):
    """A model directory has no manifest: training did not finish."""


def file_table(model_dir: Path) -> dict[str, dict[str, Any]]:
    """``{relpath: {"sha256", "size"}}`` of every file in ``model_dir`` except the manifest
    (and the :data:`SIDE_FILES`)."""
    table: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel == MANIFEST or rel in SIDE_FILES:
            continue
        table[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return table


def ci_url() -> str | None:
    """The CI run that produced the artifact: Jenkins ``BUILD_URL``, GitLab ``CI_PIPELINE_URL``."""
    return os.environ.get("BUILD_URL") or os.environ.get("CI_PIPELINE_URL") or None


def versions() -> dict[str, str | None]:
    try:
        from importlib.metadata import version

        torch_version: str | None = version("torch")
    except Exception:
        torch_version = None
    return {"python": platform.python_version(), "torch": torch_version, "lepton_ci": __version__}


def build_manifest(
    model_dir: Path,
    *,
    model: str,
    root: Path,
    data_hash: str,
    params: dict[str, Any],
    seed: int,
    device: str,
    durations: dict[str, float],
    cache_key: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "files": file_table(model_dir),
        "git": git_info(root),
        "data_hash": data_hash,
        "params": params,
        "seed": seed,
        "device": device,
        "versions": versions(),
        "ci_url": ci_url(),
        "durations": durations,
        "cache_key": cache_key,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    manifest.update(extra or {})
    return manifest


def write_manifest(model_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(model_dir / MANIFEST, manifest)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST
    if not path.is_file():
        raise IncompleteArtifact(
            f"{model_dir} has no {MANIFEST}: the training step did not complete",
            hint="run `lepton-ci train` (or fetch the train job's artifacts) first",
        )
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TamperedArtifact(f"{path} is not readable JSON: {exc}") from None
    return manifest


def verify_artifacts(model_dir: Path) -> dict[str, Any]:
    """Return the manifest after checking every file's size and sha256 against it.

    Raises :class:`TamperedArtifact` naming the first file that is missing, extra or changed,
    and :class:`IncompleteArtifact` when there is no manifest at all.
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    expected: dict[str, dict[str, Any]] = manifest.get("files", {})
    actual = {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()} - {
        MANIFEST,
        *SIDE_FILES,
    }
    for rel in sorted(actual - set(expected)):
        raise TamperedArtifact(f"{model_dir}: file {rel!r} is not listed in the manifest")
    for rel, entry in sorted(expected.items()):
        path = model_dir / rel
        if not path.is_file():
            raise TamperedArtifact(f"{model_dir}: file {rel!r} from the manifest is missing")
        size = path.stat().st_size
        if size != entry["size"]:
            raise TamperedArtifact(
                f"{model_dir}: file {rel!r} has {size} bytes, the manifest says {entry['size']}"
            )
        if sha256_file(path) != entry["sha256"]:
            raise TamperedArtifact(f"{model_dir}: file {rel!r} does not match its sha256")
    return manifest


def manifest_digest(model_dir: Path) -> str:
    """The artifact's identity digest (``sha256:<hex>``): the manifest without its run-varying
    fields (timings, timestamps, CI URL, git details), see :mod:`lepton_ci.identity`."""
    return identity_digest(read_manifest(Path(model_dir)))
