"""The artifact store on the MLflow server that holds the registry (``registry.artifacts:
mlflow://``, the default for ``registry.backend: mlflow``).

Blobs are artifacts ``blobs/sha256/<hex>`` of one run tagged ``lepton.store=blobs`` in the
experiment ``lepton-ci/_artifact-store``, uploaded and downloaded through the MLflow client: a
server started with ``--artifacts-destination`` (proxied artifact storage) is all a CI job
needs, no bucket credentials on the agents. Identical bytes are stored once, across versions
and models. Should two jobs create the store's run at the same moment, both runs are read (the
oldest first) and the oldest is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lepton_ci.store import ArtifactStore, MissingBlob, StoreError, blob_key

SCHEME = "mlflow://"
EXPERIMENT = "_artifact-store"  # not a model name: model names start with [a-z0-9]
TAG = "lepton.store"
BLOBS = "blobs/sha256"


class MlflowArtifactStore(ArtifactStore):
    parallel = 4  # each transfer is an HTTP round trip to the server

    def __init__(self, tracking_uri: str) -> None:
        from lepton_ci.registry.mlflow import MlflowRegistry

        self._registry = MlflowRegistry(tracking_uri)  # client, errors, experiment creation
        self._client: Any = self._registry._client
        self._error = self._registry._mlflow_error
        self.location = f"{SCHEME} ({self._registry.location})"
        self._runs: list[str] | None = None
        self._known: set[str] = set()

    def _store_runs(self, create: bool) -> list[str]:
        if self._runs:
            return self._runs
        experiment = self._wrap("open", lambda: self._registry._experiment(EXPERIMENT))
        runs = self._wrap(
            "list",
            lambda: self._client.search_runs(
                [experiment], f"tags.`{TAG}` = 'blobs'", order_by=["attributes.start_time ASC"]
            ),
        )
        ids = [str(r.info.run_id) for r in runs]
        if not ids and create:
            run = self._wrap(
                "create",
                lambda: self._client.create_run(
                    experiment, tags={TAG: "blobs"}, run_name="lepton-ci artifact store"
                ),
            )
            ids = [str(run.info.run_id)]
        self._runs = ids or None
        return ids

    def _wrap(self, action: str, call: Any) -> Any:
        try:
            return call()
        except self._error as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise StoreError(
                f"the MLflow artifact store at {self._registry.location} failed to {action}: "
                f"{message}",
                hint="check registry.tracking_uri and that the MLflow server serves artifacts "
                "(mlflow server --artifacts-destination ...)",
            ) from None

    def _refresh(self) -> None:
        for run_id in self._store_runs(create=False):
            listed = self._wrap("list", lambda r=run_id: self._client.list_artifacts(r, BLOBS))
            self._known.update(Path(f.path).name for f in listed if not f.is_dir)

    def has(self, digest: str) -> bool:
        blob_key(digest)  # validates the digest
        if digest not in self._known:
            self._refresh()
        return digest in self._known

    def put(self, digest: str, data: bytes) -> bool:
        if self.has(digest):
            return False
        [run_id, *_] = self._store_runs(create=True)
        with tempfile.TemporaryDirectory(prefix="lepton-blob-") as tmp:
            path = Path(tmp) / digest
            path.write_bytes(data)
            self._wrap("store", lambda: self._client.log_artifact(run_id, str(path), BLOBS))
        self._known.add(digest)
        return True

    def read(self, digest: str) -> bytes:
        key = blob_key(digest)
        for run_id in self._store_runs(create=False):
            with tempfile.TemporaryDirectory(prefix="lepton-blob-") as tmp:
                try:
                    local = self._client.download_artifacts(run_id, key, tmp)
                except self._error:
                    continue  # not in this run (or unreadable): try the next
                except OSError:
                    continue
                return Path(local).read_bytes()
        raise MissingBlob(
            f"the artifact store {self.location} has no blob sha256:{digest}",
            hint="the version was registered with another artifact store "
            "(registry.artifacts, LEPTON_ARTIFACTS), or the blob was deleted",
        )
