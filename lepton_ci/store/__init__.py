"""The artifact store: a version's model files, content-addressed (one blob per sha256).

Blobs are keyed by the sha256 of their bytes, so the same bytes are stored once across all
versions and models. Two backends implement :class:`ArtifactStore`: a local directory (the
default, ``artifacts/`` beside the SQLite registry) and S3 or an S3-compatible server
(``s3://BUCKET/PREFIX``, :mod:`lepton_ci.store.s3`, needs ``lepton-ci[s3]``). Both stream: a
blob is hashed while it is copied in chunks, never held whole in memory.

``open_store(spec, root, registry_location)`` opens the store the spec configures
(``registry.artifacts``; env ``LEPTON_ARTIFACTS`` overrides it).
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lepton_ci.errors import ExitCode, LeptonError

if TYPE_CHECKING:
    from lepton_ci.spec.model import Spec

ENV_OVERRIDE = "LEPTON_ARTIFACTS"
CHUNK = 1 << 20
DIGEST = re.compile(r"^[0-9a-f]{64}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class StoreError(LeptonError):
    """The artifact store refused or failed (the message carries its last words)."""

    exit_code = ExitCode.SERVER


class TamperedBlob(LeptonError):
    """A blob's bytes do not hash to the digest they are stored under."""


class MissingBlob(StoreError):
    """The store has no blob with that digest."""


class ChangedWhileStoring(LeptonError):
    """A file changed between its verification and its upload."""


def blob_key(digest: str) -> str:
    """``blobs/sha256/<hex>``: the OCI image-layout path of a blob (opencontainers/image-spec,
    image-layout.md), relative to the store's root."""
    if not DIGEST.match(digest):
        raise LeptonError(f"{digest!r} is not a sha256 hex digest")
    return f"blobs/sha256/{digest}"


def copy_hashing(source: BinaryIO, target: BinaryIO) -> tuple[str, int]:
    """Copy ``source`` to ``target`` in chunks; return the sha256 hex and size of what passed."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@contextlib.contextmanager
def new_file(target: Path) -> Iterator[BinaryIO]:
    """Open the new file ``target`` for writing; it is removed again when the block fails."""
    with Path(target).open("xb") as out:
        try:
            yield out
        except BaseException:
            out.close()
            Path(target).unlink(missing_ok=True)
            raise


class ArtifactStore(abc.ABC):
    """Blobs by sha256; open one with :func:`open_store`."""

    #: where the store lives, for messages and the version's record (no credentials)
    location: str = ""

    @abc.abstractmethod
    def has(self, digest: str) -> bool:
        """The store holds a blob with this digest."""

    @abc.abstractmethod
    def put(self, path: Path, digest: str) -> bool:
        """Store the file ``path`` as blob ``digest``, hashing while copying; True when new,
        False when the store held it already. Raises :class:`ChangedWhileStoring` (nothing
        stored) when the bytes do not hash to ``digest``."""

    @abc.abstractmethod
    def get(self, digest: str, size: int, target: Path) -> None:
        """Write blob ``digest`` to the new file ``target``, hashing while copying. Raises
        :class:`MissingBlob`, or :class:`TamperedBlob` when its bytes do not match ``digest``
        or ``size`` (``target`` is then removed)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def tampered(self, digest: str, actual: str, size: int, expected: int) -> TamperedBlob:
        what = f"sha256 {actual}" if actual != digest else f"{size} bytes, not {expected}"
        return TamperedBlob(
            f"blob sha256:{digest} in the artifact store {self.location} does not match its "
            f"digest ({what}): the store was altered or damaged",
            hint="nothing was written; re-register the version from its run directory "
            "(`lepton-ci models register`) to store its files again, and find out who can "
            "write to the store",
        )


def check_digest(store: ArtifactStore, digest: str, actual: str) -> None:
    if actual != digest:
        raise ChangedWhileStoring(
            f"a file changed while it was stored in {store.location}: it hashed to {actual}, "
            f"not the sha256 {digest} it had when it was verified",
            hint="nothing was stored under that digest; do not write to the model directory "
            "while `lepton-ci models register` runs",
        )


def store_location(spec: Spec, root: Path, registry_location: str | None = None) -> str:
    """Where the artifact store is: env ``LEPTON_ARTIFACTS``, else ``registry.artifacts``, else
    ``artifacts/`` beside the SQLite registry file (``root/.lepton/artifacts`` for MLflow)."""
    configured = os.environ.get(ENV_OVERRIDE) or spec.registry.artifacts
    if configured:
        if _SCHEME.match(configured):
            return configured
        path = Path(configured)
        return str(path if path.is_absolute() else Path(root) / path)
    if spec.registry.backend == "sqlite":
        from lepton_ci.registry import ENV_OVERRIDE as REGISTRY_ENV
        from lepton_ci.registry import sqlite_path

        where = registry_location or os.environ.get(REGISTRY_ENV) or spec.registry.path
        return str(sqlite_path(where, Path(root)).parent / "artifacts")
    return str(Path(root) / ".lepton" / "artifacts")


def open_store(
    spec: Spec, root: Path = Path("."), registry_location: str | None = None
) -> ArtifactStore:
    """Open the artifact store the spec configures (see :func:`store_location`).

    In CI a local store inside the workspace is refused unless ``registry.shared`` is true:
    the next job would not find the files.
    """
    location = store_location(spec, root, registry_location)
    match = _SCHEME.match(location)
    if match:
        if match.group(1).lower() != "s3":
            raise StoreError(
                f"artifact store {location!r}: {match.group(1)}:// is not served",
                hint="registry.artifacts is a directory or s3://BUCKET/PREFIX",
            )
        from lepton_ci.store.s3 import S3Store

        return S3Store(location)
    from lepton_ci.registry import in_ci, workspace_local
    from lepton_ci.store.local import LocalStore

    path = Path(location)
    variable = in_ci()
    if variable and not spec.registry.shared and workspace_local(path, Path(root)):
        raise StoreError(
            f"the artifact store {path} is inside the workspace, and this is CI ({variable} is "
            "set): the next job would not find the model files",
            hint=f"set {ENV_OVERRIDE} (a CI variable) or registry.artifacts to a host path every "
            "job sees (with registry.shared: true) or to s3://BUCKET/PREFIX",
        )
    return LocalStore(path)
