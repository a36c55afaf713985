"""The local artifact store: blobs as read-only files under ``<dir>/blobs/sha256/<hex>``.

A blob is written to a temporary file beside its final name while it is hashed, and renamed
into place only when its digest is right, so a reader never sees a partial blob and concurrent
writers of the same bytes both succeed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lepton_ci.store import (
    ArtifactStore,
    MissingBlob,
    StoreError,
    blob_key,
    check_digest,
    copy_hashing,
    new_file,
)


class LocalStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, path: Path, digest: str) -> bool:
        target = self.path(digest)
        if target.is_file() and target.stat().st_size == Path(path).stat().st_size:
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
            with Path(path).open("rb") as source, os.fdopen(fd, "wb") as out:
                actual, _size = copy_hashing(source, out)
                out.flush()
                os.fsync(out.fileno())
            check_digest(self, digest, actual)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def get(self, digest: str, size: int, target: Path) -> None:
        blob = self.path(digest)
        try:
            source = blob.open("rb")
        except FileNotFoundError:
            raise MissingBlob(
                f"the artifact store {self.root} has no blob sha256:{digest}",
                hint="the store is not the one the version was registered with "
                "(registry.artifacts, LEPTON_ARTIFACTS), or the blob was deleted",
            ) from None
        with source, new_file(target) as out:
            actual, got = copy_hashing(source, out)
            if actual != digest or got != size:
                raise self.tampered(digest, actual, got, size)
