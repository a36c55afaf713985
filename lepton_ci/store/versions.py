"""A version's model files in the artifact store: stored at register, pulled anywhere.

``store_model_dir`` puts every file of a verified model directory (``manifest.json`` included)
into the store and returns the version's *file record*: ``{path: {"sha256", "size"}}`` plus
where it went. The record is kept with the version as the registry file ``artifacts.json``
(both backends keep a version's small files), so any machine that reaches the registry and the
store can :func:`pull` the version: every blob is verified against the record while it is
copied, the whole directory against the registry's artifact digest, and only then renamed
into place — a failed pull leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from lepton_ci.errors import LeptonError, StepError
from lepton_ci.identity import identity_digest
from lepton_ci.store import ArtifactStore, TamperedBlob

if TYPE_CHECKING:
    from lepton_ci.registry.base import ModelVersion, Registry

RECORD = "artifacts.json"  # the registry file holding a version's file record
MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
CACHE_DIR = ".lepton/models"


class NoStoredFiles(StepError):
    """The version was registered without its files (before the artifact store existed)."""


@dataclass(frozen=True)
class Stored:
    record: dict[str, Any]
    new_bytes: int  # bytes the store did not hold yet
    total_bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def store_model_dir(store: ArtifactStore, model_dir: Path, manifest: dict[str, Any]) -> Stored:
    """Store the files of ``model_dir`` (already verified against ``manifest``) and the
    manifest itself; return the file record for the version."""
    files: dict[str, dict[str, Any]] = {
        rel: {"sha256": str(entry["sha256"]), "size": int(entry["size"])}
        for rel, entry in sorted((manifest.get("files") or {}).items())
    }
    manifest_path = Path(model_dir) / MANIFEST
    files[MANIFEST] = {"sha256": _sha256(manifest_path), "size": manifest_path.stat().st_size}
    new = 0
    for rel, entry in files.items():
        if store.put(Path(model_dir) / rel, entry["sha256"]):
            new += entry["size"]
    record = {"schema_version": SCHEMA_VERSION, "store": store.location, "files": files}
    return Stored(record, new, sum(e["size"] for e in files.values()))


def file_record(registry: Registry, version: ModelVersion) -> dict[str, dict[str, Any]]:
    """``{path: {"sha256", "size"}}`` of the version's stored files, validated."""
    raw = registry.read_file(version.name, version.version, RECORD)
    if raw is None:
        raise NoStoredFiles(
            f"{version.name} version {version.version} was registered without its model files "
            "(before the artifact store), so it can only be served from its run directory",
            hint="register the run again with this lepton-ci (`lepton-ci models register` "
            "stores the files), or deploy from the run directory",
        )
    try:
        files = json.loads(raw)["files"]
        record = {
            _safe(rel): {"sha256": str(e["sha256"]), "size": int(e["size"])}
            for rel, e in files.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LeptonError(
            f"the file record of {version.name} version {version.version} is unreadable: {exc}"
        ) from None
    if MANIFEST not in record:
        raise LeptonError(
            f"the file record of {version.name} version {version.version} lacks {MANIFEST}"
        )
    return record


def _safe(rel: str) -> str:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in rel:
        raise ValueError(f"unsafe path {rel!r}")
    return path.as_posix()


def pull(registry: Registry, store: ArtifactStore, version: ModelVersion, target: Path) -> Path:
    """Fetch the version's files into the new directory ``target``, verified; return it.

    ``target`` must not exist, or be an empty directory. The files are written to a temporary
    directory beside it and renamed into place only after every check passed.
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StepError(
            f"{target} exists and is not empty: pull writes a new directory",
            hint="name another directory, or remove this one first",
        )
    record = file_record(registry, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.pull-", dir=target.parent))
    try:
        for rel, entry in record.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                store.get(entry["sha256"], entry["size"], path)
            except TamperedBlob as exc:
                raise TamperedBlob(
                    f"refusing to pull {version.name} version {version.version}: file {rel!r} — "
                    f"{exc.message}",
                    hint=exc.hint,
                ) from None
        check_pulled(staging, record, version)
        if target.is_dir():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def check_pulled(model_dir: Path, record: dict[str, dict[str, Any]], version: ModelVersion) -> None:
    """The pulled manifest lists exactly the recorded files and is the registered artifact."""
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    listed = {
        rel: {"sha256": e["sha256"], "size": e["size"]}
        for rel, e in (manifest.get("files") or {}).items()
    }
    files = {rel: e for rel, e in record.items() if rel != MANIFEST}
    digest = identity_digest(manifest)
    if listed != files or (version.manifest_digest and digest != version.manifest_digest):
        raise TamperedBlob(
            f"refusing to pull {version.name} version {version.version}: its stored files are "
            f"not the registered artifact (artifact {digest}, the registry records "
            f"{version.manifest_digest})",
            hint="the version's file record or manifest was rewritten; re-register the run",
        )


def cached(registry: Registry, store: ArtifactStore, version: ModelVersion, root: Path) -> Path:
    """The version's files in ``root/.lepton/models/<name>/<version>``, pulled if absent (deploy
    and rollback serve from there when no run directory has them)."""
    target = Path(root) / CACHE_DIR / version.name / str(version.version)
    if (target / MANIFEST).is_file():
        return target
    if target.exists():  # an interrupted pull left an empty directory, or a partial copy
        shutil.rmtree(target)
    return pull(registry, store, version, target)
