"""The local artifact store: blobs as read-only files under ``<dir>/blobs/sha256/<hex>``.

A blob is written to a temporary file beside its final name and renamed into place, so a
reader never sees a partial blob and concurrent writers of the same bytes both succeed;
:meth:`LocalStore.flush` makes them durable before the version that names them is registered.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lepton_ci.store import ArtifactStore, StoreError, blob_key


class LocalStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self._unsynced: list[Path] = []

    def path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, digest: str, data: bytes) -> bool:
        target = self.path(digest)
        if target.is_file():
            return False
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        except OSError as exc:
            raise StoreError(
                f"cannot write to the artifact store {self.root}: {exc}",
                hint="check the directory's permissions (registry.artifacts, LEPTON_ARTIFACTS)",
            ) from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._unsynced.append(target)
        return True

    def flush(self) -> None:
        """fsync the blobs written since the last flush (once per register, not per blob: the
        kernel has written most of them back by then)."""
        for path in self._unsynced:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for directory in {p.parent for p in self._unsynced}:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced.clear()

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise self.missing(digest) from None
