"""The artifact store: a version's model files, content-addressed (one blob per sha256).

Files are cut into fixed-size chunks (:mod:`lepton_ci.store.versions`) and each chunk is a blob
keyed by the sha256 of its bytes, so the same bytes are stored once across all versions and
models — also inside one file: a retrained model whose weights differ in one layer shares every
other chunk with its predecessor. Three backends implement :class:`ArtifactStore`: a local
directory (the default, ``artifacts/`` beside the SQLite registry) and S3 or an S3-compatible
server (``s3://BUCKET/PREFIX``, :mod:`lepton_ci.store.s3`, needs ``lepton-ci[s3]``), and a
repository of an OCI registry (``oci://HOST[:PORT]/REPOSITORY``, :mod:`lepton_ci.store.oci`,
needs ``lepton-ci[oci]``). Nothing
holds more than one chunk in memory, whatever the size of the model.

``open_store(spec, root, registry_location)`` opens the store the spec configures
(``registry.artifacts``; env ``LEPTON_ARTIFACTS`` overrides it).
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lepton_ci.errors import ExitCode, LeptonError, MissingDependency

if TYPE_CHECKING:
    from lepton_ci.spec.model import Spec

ENV_OVERRIDE = "LEPTON_ARTIFACTS"
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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore(abc.ABC):
    """Blobs (at most a chunk of a file each, :data:`lepton_ci.store.versions.CHUNK_SIZE`) by
    sha256; open one with :func:`open_store`."""

    #: where the store lives, for messages and the version's record (no credentials)
    location: str = ""
    #: chunks transferred at once (a network store hides its latency; memory: this many chunks)
    parallel: int = 1

    @abc.abstractmethod
    def has(self, digest: str) -> bool:
        """The store holds a blob with this digest."""

    @abc.abstractmethod
    def put(self, digest: str, data: bytes) -> bool:
        """Store ``data`` (whose sha256 is ``digest``) unless the store holds it already; True
        when it was new. A blob appears whole or not at all."""

    @abc.abstractmethod
    def read(self, digest: str) -> bytes:
        """The bytes of blob ``digest``, or :class:`MissingBlob`."""

    def get(self, digest: str) -> bytes:
        """:meth:`read`, verified: :class:`TamperedBlob` when the bytes do not hash to
        ``digest``."""
        data = self.read(digest)
        actual = sha256_hex(data)
        if actual != digest:
            raise TamperedBlob(
                f"blob sha256:{digest} in the artifact store {self.location} does not match "
                f"its digest (its bytes hash to {actual}): the store was altered or damaged",
                hint="nothing was written; register the version again from its run directory "
                "(`lepton-ci models register` stores missing blobs, a damaged one must be "
                "deleted first), and find out who can write to the store",
            )
        return data

    def missing(self, digest: str) -> MissingBlob:
        return MissingBlob(
            f"the artifact store {self.location} has no blob sha256:{digest}",
            hint="the store is not the one the version was registered with "
            "(registry.artifacts, LEPTON_ARTIFACTS), or the blob was deleted",
        )

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Make the blobs stored so far durable (before a record names them)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def store_location(spec: Spec, root: Path, registry_location: str | None = None) -> str:
    """Where the artifact store is: env ``LEPTON_ARTIFACTS``, else ``registry.artifacts``, else
    ``artifacts/`` beside the SQLite registry file, or ``mlflow://`` (the MLflow server) for an
    MLflow registry; ``root/.lepton/artifacts`` beside a PostgreSQL registry."""
    configured = os.environ.get(ENV_OVERRIDE) or spec.registry.artifacts
    if configured:
        if _SCHEME.match(configured):
            return configured
        path = Path(configured)
        return str(path if path.is_absolute() else Path(root) / path)
    if spec.registry.backend == "mlflow":
        return "mlflow://"  # the registry's MLflow server keeps the files too
    if spec.registry.backend in ("sqlite", "sql"):
        from lepton_ci.registry import ENV_OVERRIDE as REGISTRY_ENV
        from lepton_ci.registry import is_postgres, sqlite_path

        where = registry_location or os.environ.get(REGISTRY_ENV) or spec.registry.path
        if not is_postgres(where):  # a PostgreSQL registry has no directory to sit beside
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
    if location == "mlflow://":
        return _mlflow_store(spec, registry_location)
    if match:
        return _remote_store(match.group(1).lower(), location)
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


def _remote_store(scheme: str, location: str) -> ArtifactStore:
    """The store an ``s3://`` or ``oci://`` location names."""
    if scheme == "s3":
        from lepton_ci.store.s3 import S3Store

        return S3Store(location)
    if scheme == "oci":
        try:
            from lepton_ci.store.oci import OciStore
        except ImportError:
            raise MissingDependency("httpx", "oci") from None
        return OciStore(location)
    shown = "the URL" if "@" in location else repr(location)  # never echo credentials
    raise StoreError(
        f"artifact store {shown}: {scheme}:// is not served",
        hint="registry.artifacts is a directory, s3://BUCKET/PREFIX, "
        "oci://HOST[:PORT]/REPOSITORY or mlflow://",
    )


def _mlflow_store(spec: Spec, registry_location: str | None) -> ArtifactStore:
    """The artifact store on the registry's MLflow server (its tracking URI, as the registry
    has it: ``--registry``, ``LEPTON_REGISTRY``, ``registry.tracking_uri``)."""
    from lepton_ci.registry import ENV_OVERRIDE as REGISTRY_ENV
    from lepton_ci.store.mlflow_artifacts import MlflowArtifactStore

    if spec.registry.backend != "mlflow":
        raise StoreError(
            "registry.artifacts is mlflow://, but the registry is not on MLflow",
            hint="mlflow:// needs registry.backend: mlflow; else a directory or s3://BUCKET/PREFIX",
        )
    uri = registry_location or os.environ.get(REGISTRY_ENV) or spec.registry.tracking_uri
    assert uri is not None  # the spec validator requires it for backend mlflow
    return MlflowArtifactStore(uri)
