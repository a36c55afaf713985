"""A version's model files in the artifact store: stored at register, pulled anywhere.

``store_model_dir`` puts every file of a verified model directory (``manifest.json`` included)
into the store, chunk by chunk, and returns the version's *file record*: ``{path: {"sha256",
"size", "chunks": [sha256…]}}`` plus where it went. The record is kept with the version as
the registry file ``artifacts.json`` (every backend keeps a version's small files), so any
machine that reaches the registry and the store can :func:`pull` the version: every chunk and
file is verified against the record while it is copied, the whole directory against the
registry's artifact digest, and only then renamed into place — a failed pull leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from lepton_ci.errors import LeptonError, StepError
from lepton_ci.identity import identity_digest
from lepton_ci.store import ArtifactStore, ChangedWhileStoring, TamperedBlob, sha256_hex

if TYPE_CHECKING:
    from lepton_ci.registry.base import ModelVersion, Registry
    from lepton_ci.signing import Policy

RECORD = "artifacts.json"  # the registry file holding a version's file record
MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
#: files are stored in chunks of this size (the last one shorter): a retrain that changes one
#: layer of a serialized model rewrites the chunks that layer's bytes lie in, and shares the
#: rest with the previous version (torch's zip archives keep each tensor at a fixed offset)
CHUNK_SIZE = 1 << 20
CACHE_DIR = ".lepton/models"
T = TypeVar("T")


class NoStoredFiles(StepError):
    """The version was registered without its files (before the artifact store existed)."""


@dataclass(frozen=True)
class Stored:
    record: dict[str, Any]
    new_bytes: int  # bytes the store did not hold yet
    total_bytes: int


def put_file(store: ArtifactStore, path: Path) -> tuple[dict[str, Any], int]:
    """Store ``path`` chunk by chunk; return its record entry (``sha256``, ``size``,
    ``chunks``) and how many of its bytes were new to the store. Up to ``store.parallel``
    chunks are in flight (and in memory) at a time."""
    whole = hashlib.sha256()
    chunks: list[str] = []
    size = new = 0
    with Path(path).open("rb") as handle, _Window(store.parallel) as window:
        while data := handle.read(CHUNK_SIZE):
            digest = sha256_hex(data)
            whole.update(data)
            chunks.append(digest)
            size += len(data)
            for stored, length in window.submit(_put, store, digest, data):
                new += length if stored else 0
        for stored, length in window.drain():
            new += length if stored else 0
    return {"sha256": whole.hexdigest(), "size": size, "chunks": chunks}, new


def _put(store: ArtifactStore, digest: str, data: bytes) -> tuple[bool, int]:
    return store.put(digest, data), len(data)


class _Window:
    """At most ``size`` calls running at once on a thread pool; results come back in order.
    ``size`` 1 runs each call at once in this thread."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.pool = ThreadPoolExecutor(self.size) if self.size > 1 else None
        self.pending: deque[Future[Any]] = deque()

    def __enter__(self) -> _Window:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True)

    def submit(self, func: Callable[..., T], *args: Any) -> list[T]:
        """Start ``func(*args)``; return the results that had to be collected to make room."""
        if self.pool is None:
            return [func(*args)]
        self.pending.append(self.pool.submit(func, *args))
        done = []
        while len(self.pending) >= self.size:
            done.append(self.pending.popleft().result())
        return done

    def drain(self) -> list[Any]:
        """The results of every call still running, in order."""
        done = [future.result() for future in self.pending]
        self.pending.clear()
        return done


def store_model_dir(store: ArtifactStore, model_dir: Path, manifest: dict[str, Any]) -> Stored:
    """Store the files of ``model_dir`` (already verified against ``manifest``) and the
    manifest itself; return the file record for the version."""
    files: dict[str, dict[str, Any]] = {}
    new = 0
    listed = manifest.get("files") or {}
    for rel in [*sorted(listed), MANIFEST]:
        entry, fresh = put_file(store, Path(model_dir) / rel)
        expected = listed.get(rel)
        if expected is not None and (entry["sha256"], entry["size"]) != (
            expected["sha256"],
            expected["size"],
        ):
            raise ChangedWhileStoring(
                f"{Path(model_dir) / rel} changed while it was stored in {store.location}: it "
                "no longer matches the manifest it was verified against",
                hint="nothing was registered; do not write to the model directory while "
                "`lepton-ci models register` runs, then register again",
            )
        files[rel] = entry
        new += fresh
    store.flush()
    record = {
        "schema_version": SCHEMA_VERSION,
        "store": store.location,
        "chunk_size": CHUNK_SIZE,
        "files": files,
    }
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
            _safe(rel): {
                "sha256": str(e["sha256"]),
                "size": int(e["size"]),
                "chunks": [str(c) for c in e["chunks"]],
            }
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


def pull(
    registry: Registry,
    store: ArtifactStore,
    version: ModelVersion,
    target: Path,
    policy: Policy | None = None,
) -> Path:
    """Fetch the version's files into the new directory ``target``, verified; return it.

    ``target`` must not exist, or be an empty directory. The files are written to a temporary
    directory beside it and renamed into place only after every check passed: each file's
    digests, the manifest against the registry's artifact digest and, with a signing
    ``policy``, the version's signature (``model.sig``, written beside the files with the
    provenance statement); a refused pull leaves nothing behind.
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
            try:
                fetch_file(store, entry, staging / rel)
            except TamperedBlob as exc:
                raise TamperedBlob(
                    f"refusing to pull {version.name} version {version.version}: file {rel!r}: "
                    f"{exc.message}",
                    hint=exc.hint,
                ) from None
        check_pulled(staging, record, version)
        _add_signature(registry, version, staging, policy)
        if target.is_dir():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _add_signature(
    registry: Registry, version: ModelVersion, staging: Path, policy: Policy | None
) -> None:
    """Write the version's signature and provenance beside its files, then verify them."""
    from lepton_ci.console import info
    from lepton_ci.runtime.manifest import SIDE_FILES
    from lepton_ci.signing import UNSIGNED, check

    for name in SIDE_FILES:
        data = registry.read_file(version.name, version.version, name)
        if data is not None:
            (staging / name).write_bytes(data)
    try:
        note = check(staging, policy or UNSIGNED)
    except LeptonError as exc:
        words = exc.message.removeprefix(f"refusing {staging}: ")
        exc.message = f"refusing to pull {version.name} version {version.version}: {words}"
        raise
    info(f"{version.name} version {version.version}: {note}", step="pull")


def fetch_file(store: ArtifactStore, entry: dict[str, Any], path: Path) -> None:
    """Write the file of a record entry, every chunk verified, then the whole file (up to
    ``store.parallel`` chunks fetched ahead)."""
    whole = hashlib.sha256()
    size = 0
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(data: bytes) -> None:
        nonlocal size
        whole.update(data)
        size += len(data)
        out.write(data)

    with path.open("xb") as out, _Window(store.parallel) as window:
        for digest in entry["chunks"]:
            for data in window.submit(store.get, digest):
                write(data)
        for data in window.drain():
            write(data)
    if (whole.hexdigest(), size) != (entry["sha256"], entry["size"]):
        raise TamperedBlob(
            f"its chunks in {store.location} add up to sha256 {whole.hexdigest()} ({size} "
            f"bytes), not the recorded {entry['sha256']} ({entry['size']} bytes)",
            hint="the version's file record was rewritten; register the run again",
        )


def check_pulled(model_dir: Path, record: dict[str, dict[str, Any]], version: ModelVersion) -> None:
    """The pulled manifest lists exactly the recorded files and is the registered artifact."""
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    listed = {
        rel: {"sha256": e["sha256"], "size": e["size"]}
        for rel, e in (manifest.get("files") or {}).items()
    }
    files = {
        rel: {"sha256": e["sha256"], "size": e["size"]}
        for rel, e in record.items()
        if rel != MANIFEST
    }
    digest = identity_digest(manifest)
    if listed != files or (version.manifest_digest and digest != version.manifest_digest):
        raise TamperedBlob(
            f"refusing to pull {version.name} version {version.version}: its stored files are "
            f"not the registered artifact (artifact {digest}, the registry records "
            f"{version.manifest_digest})",
            hint="the version's file record or manifest was rewritten; re-register the run",
        )


def cached(
    registry: Registry,
    store: ArtifactStore,
    version: ModelVersion,
    root: Path,
    policy: Policy | None = None,
) -> Path:
    """The version's files in ``root/.lepton/models/<name>/<version>``, pulled if absent (deploy
    and rollback serve from there when no run directory has them)."""
    target = Path(root) / CACHE_DIR / version.name / str(version.version)
    if (target / MANIFEST).is_file():
        return target
    if target.exists():  # an interrupted pull left an empty directory, or a partial copy
        shutil.rmtree(target)
    return pull(registry, store, version, target, policy)
