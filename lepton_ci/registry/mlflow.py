"""The registry on an MLflow tracking/registry server (``registry.backend: mlflow``).

Mapping (see docs/registry.md):

* model name -> MLflow *registered model*; version -> MLflow *model version* (MLflow numbers
  them, monotonic per model), created from a *registration run* in experiment
  ``lepton-ci/<name>``. The run holds the evaluation metrics, params and tags (git sha, data
  hash, manifest digest) for MLflow's UI, and the exact record as artifacts:
  ``lepton/record.json`` (manifest, metrics, gates, params) and ``lepton/files/<key>``.
* aliases -> MLflow registered-model aliases (``champion``); image -> model-version tags.
* every history entry (alias move, image, deployment, metrics) -> a small run in the same
  experiment tagged ``lepton.kind`` (``event`` or ``deployment``), so history is append-only
  and safe under concurrent pipelines.
* ``log_metrics`` -> metrics ``<kind>/<name>`` on the version's registration run (or on the
  event run when no version was registered).

``mlflow`` is imported lazily; without it, opening this backend raises ``MissingDependency``.
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from lepton_ci.errors import MissingDependency, ServerError
from lepton_ci.registry.base import (
    Deployment,
    Event,
    ModelVersion,
    Registry,
    UnknownVersion,
    check_alias,
    check_outcome,
    check_promotion,
    current_actor,
    gates_passed,
    iso,
    now,
    parse_time,
)

T = TypeVar("T")
RECORD = "lepton/record.json"
FILES = "lepton/files"
KIND = "lepton.kind"
METRIC_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")
PARAM_LIMIT = 6000


def redact_uri(uri: str) -> str:
    """The URI without user:password (safe for messages)."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def _server_errors(func: Callable[..., T]) -> Callable[..., T]:
    """MLflow's errors become ServerError naming the (redacted) server and its last words."""

    @functools.wraps(func)
    def wrapper(self: MlflowRegistry, *args: Any, **kwargs: Any) -> T:
        try:
            return func(self, *args, **kwargs)
        except self._mlflow_error as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise ServerError(
                f"MLflow at {self.location} failed: {message}",
                hint="check registry.tracking_uri and that the MLflow server is reachable",
            ) from exc

    return wrapper


class MlflowRegistry(Registry):
    """Registry on MLflow's model registry and tracking store."""

    def __init__(self, tracking_uri: str) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        try:
            from mlflow import MlflowClient
            from mlflow.exceptions import MlflowException
        except ImportError:
            raise MissingDependency("mlflow", "mlflow") from None
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.tracking_uri = tracking_uri
        self.location = redact_uri(tracking_uri)
        self._mlflow_error = MlflowException
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiments: dict[str, str] = {}

    # -- plumbing --------------------------------------------------------------------------
    def _artifact_root(self) -> str | None:
        """Local stores keep artifacts beside the database (never in the working directory)."""
        uri = self.tracking_uri
        if uri.startswith("sqlite:///"):
            return (Path(uri[len("sqlite:///") :]).resolve().parent / "mlartifacts").as_uri()
        if "://" not in uri or uri.startswith("file:"):
            return None  # file store: MLflow keeps artifacts inside it
        return None  # a server decides (proxied artifact storage)

    def _experiment(self, name: str) -> str:
        if name in self._experiments:
            return self._experiments[name]
        title = f"lepton-ci/{name}"
        found = self._client.get_experiment_by_name(title)
        if found is None:
            root = self._artifact_root()
            try:
                exp_id = self._client.create_experiment(
                    title, artifact_location=f"{root}/{name}" if root else None
                )
            except self._mlflow_error:  # created concurrently
                found = self._client.get_experiment_by_name(title)
                if found is None:
                    raise
                exp_id = found.experiment_id
        else:
            exp_id = found.experiment_id
        self._experiments[name] = exp_id
        return exp_id

    def _ensure_model(self, name: str) -> None:
        try:
            self._client.get_registered_model(name)
        except self._mlflow_error:
            try:
                self._client.create_registered_model(
                    name, tags={"lepton.managed": "true"}, description="Managed by lepton-ci."
                )
            except self._mlflow_error:
                self._client.get_registered_model(name)  # created concurrently, or a real error

    def _run(self, name: str, tags: Mapping[str, str], run_name: str) -> str:
        run = self._client.create_run(self._experiment(name), tags=dict(tags), run_name=run_name)
        return str(run.info.run_id)

    def _event(
        self,
        name: str,
        version: int | None,
        event: str,
        *,
        actor: str | None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        kind: str = "event",
        extra_tags: Mapping[str, str] | None = None,
        at: str | None = None,
    ) -> str:
        tags = {
            KIND: kind,
            "lepton.event": event,
            "lepton.version": "none" if version is None else str(version),
            "lepton.at": at or iso(now()),
            "lepton.details": json.dumps(dict(details or {}), sort_keys=True, default=str),
            **({"lepton.actor": actor} if actor else {}),
            **({"lepton.reason": reason} if reason else {}),
            **dict(extra_tags or {}),
        }
        run_id = self._run(name, tags, f"{event} v{version}" if version else event)
        self._client.set_terminated(run_id)
        return run_id

    def _model_version(self, name: str, version: int) -> Any:
        try:
            return self._client.get_model_version(name, str(int(version)))
        except self._mlflow_error:
            raise UnknownVersion(name, version) from None

    def _download(self, run_id: str, path: str) -> bytes | None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self._client.download_artifacts(run_id, path, tmp)
            except (self._mlflow_error, OSError):
                return None
            target = Path(local)
            return target.read_bytes() if target.is_file() else None

    def _to_version(self, mv: Any) -> ModelVersion:
        raw = self._download(mv.run_id, RECORD)
        record = json.loads(raw) if raw else {}
        tags = dict(mv.tags or {})
        return ModelVersion(
            name=mv.name,
            version=int(mv.version),
            created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=timezone.utc),
            git_sha=record.get("git_sha"),
            data_hash=record.get("data_hash"),
            params=record.get("params", {}),
            manifest=record.get("manifest", {}),
            manifest_digest=record.get("manifest_digest"),
            metrics=record.get("metrics", {}),
            gates=tuple(record.get("gates", ())),
            image=tags.get("lepton.image"),
            image_digest=tags.get("lepton.image_digest"),
            aliases=tuple(sorted(getattr(mv, "aliases", None) or ())),
        )

    def _runs(self, name: str, filter_string: str) -> builtins.list[Any]:
        runs: builtins.list[Any] = []
        token = None
        while True:
            page = self._client.search_runs(
                [self._experiment(name)], filter_string, max_results=1000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    # -- versions -------------------------------------------------------------------------
    def _with_digest(self, name: str, digest: str) -> builtins.list[Any]:
        """Model versions of ``name`` tagged with this artifact digest, lowest number first."""
        found = self._client.search_model_versions(
            f"name = '{name}' AND tags.`lepton.manifest_digest` = '{digest}'"
        )
        return sorted(found, key=lambda mv: int(mv.version))

    @_server_errors
    def register_artifact(
        self,
        name: str,
        *,
        manifest: Mapping[str, Any],
        metrics: Mapping[str, Any],
        gates: builtins.list[Mapping[str, Any]],
        git_sha: str | None,
        data_hash: str | None,
        params: Mapping[str, Any],
        files: Mapping[str, bytes] | None = None,
        manifest_digest: str | None = None,
    ) -> tuple[ModelVersion, bool]:
        from mlflow.entities import Metric, Param

        from lepton_ci.identity import identity_digest

        digest = manifest_digest or identity_digest(manifest)
        self._ensure_model(name)
        # MLflow has no unique constraint to lean on: best effort, by tag (docs/registry.md)
        existing = self._with_digest(name, digest)
        if existing:
            return self._to_version(existing[0]), False
        at = iso(now())
        actor = current_actor()
        tags = {
            KIND: "version",
            "lepton.event": "registered",
            "lepton.at": at,
            "lepton.git_sha": git_sha or "",
            "lepton.data_hash": data_hash or "",
            "lepton.manifest_digest": digest,
            "lepton.gates_passed": str(gates_passed(gates)).lower(),
            "lepton.details": json.dumps(
                {"git_sha": git_sha, "manifest_digest": digest, "files": sorted(files or {})}
            ),
            **({"lepton.actor": actor} if actor else {}),
        }
        if git_sha:
            tags["mlflow.source.git.commit"] = git_sha
        run_id = self._run(name, tags, "registration")
        stamp = int(time.time() * 1000)
        numeric = [
            Metric(metric_key(k), float(v), stamp, 0)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        param_list = [
            Param(str(k)[:250], json.dumps(v, default=str)[:PARAM_LIMIT]) for k, v in params.items()
        ]
        for start in range(0, max(len(numeric), len(param_list)), 100):
            self._client.log_batch(
                run_id, metrics=numeric[start : start + 100], params=param_list[start : start + 100]
            )
        record = {
            "manifest": manifest,
            "metrics": metrics,
            "gates": list(gates),
            "params": params,
            "git_sha": git_sha,
            "data_hash": data_hash,
            "manifest_digest": digest,
        }
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "lepton" / "files").mkdir(parents=True)
            (root / RECORD).write_text(json.dumps(record, sort_keys=True, default=str))
            for key, data in (files or {}).items():
                (root / FILES / key).write_bytes(data)
            self._client.log_artifacts(run_id, str(root / "lepton"), "lepton")
        self._client.set_terminated(run_id)
        run = self._client.get_run(run_id)
        mv = self._client.create_model_version(
            name,
            source=run.info.artifact_uri,
            run_id=run_id,
            tags={
                "lepton.git_sha": git_sha or "",
                "lepton.manifest_digest": digest,
                "lepton.gates_passed": str(gates_passed(gates)).lower(),
            },
        )
        self._client.set_tag(run_id, "lepton.version", str(mv.version))
        first = self._with_digest(name, digest)[0]
        if int(first.version) != int(mv.version):
            # a concurrent registration of the same artifact got a lower number: keep that one
            self._client.delete_model_version(name, str(mv.version))
            self._client.delete_run(run_id)  # its "registered" event is not history
            return self._to_version(first), False
        return self._to_version(self._client.get_model_version(name, mv.version)), True

    @_server_errors
    def get(self, name: str, version: int) -> ModelVersion:
        return self._to_version(self._model_version(name, version))

    def _numbers(self, name: str) -> builtins.list[int]:
        found = self._client.search_model_versions(f"name = '{name}'")
        return sorted(int(mv.version) for mv in found)

    @_server_errors
    def list(self, name: str) -> builtins.list[ModelVersion]:
        return [self.get(name, n) for n in self._numbers(name)]

    @_server_errors
    def latest(self, name: str) -> ModelVersion | None:
        numbers = self._numbers(name)
        return self.get(name, numbers[-1]) if numbers else None

    @_server_errors
    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        try:
            mv = self._client.get_model_version_by_alias(name, alias)
        except self._mlflow_error:
            return None
        return self._to_version(mv)

    @_server_errors
    def read_file(self, name: str, version: int, key: str) -> bytes | None:
        mv = self._model_version(name, version)
        return self._download(mv.run_id, f"{FILES}/{key}")

    # -- aliases and images ----------------------------------------------------------------
    @_server_errors
    def set_alias(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        reason: str,
        actor: str | None = None,
        forced: bool = False,
    ) -> None:
        check_alias(alias)
        target = self.get(name, version)
        check_promotion(target, alias, reason=reason, forced=forced)
        previous = self.by_alias(name, alias)
        self._client.set_registered_model_alias(name, alias, str(target.version))
        self._event(
            name,
            target.version,
            "alias",
            actor=actor or current_actor(),
            reason=reason,
            details={
                "alias": alias,
                "previous_version": previous.version if previous else None,
                "forced": forced,
                "gates_passed": target.gates_passed,
            },
        )

    @_server_errors
    def set_image(self, name: str, version: int, *, image: str, digest: str) -> None:
        self._model_version(name, version)
        self._client.set_model_version_tag(name, str(version), "lepton.image", image)
        self._client.set_model_version_tag(name, str(version), "lepton.image_digest", digest)
        self._event(
            name,
            int(version),
            "image",
            actor=current_actor(),
            details={"image": image, "digest": digest},
        )

    # -- deployments -----------------------------------------------------------------------
    @_server_errors
    def record_deployment(
        self,
        name: str,
        version: int,
        *,
        environment: str,
        image_digest: str | None,
        outcome: str,
        details: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        check_outcome(outcome)
        self._model_version(name, version)
        self._event(
            name,
            int(version),
            "deployment",
            kind="deployment",
            actor=actor or current_actor(),
            details={
                "environment": environment,
                "outcome": outcome,
                "image_digest": image_digest,
                **dict(details or {}),
            },
            extra_tags={
                "lepton.environment": environment,
                "lepton.outcome": outcome,
                "lepton.image_digest": image_digest or "",
            },
        )

    @_server_errors
    def deployments(self, name: str, environment: str | None = None) -> builtins.list[Deployment]:
        query = f"tags.`{KIND}` = 'deployment'"
        if environment is not None:
            query += f" AND tags.`lepton.environment` = '{environment}'"
        out = []
        for run in self._runs(name, query):
            tags = run.data.tags
            details = json.loads(tags.get("lepton.details", "{}"))
            for key in ("environment", "outcome", "image_digest"):
                details.pop(key, None)
            out.append(
                Deployment(
                    name=name,
                    version=int(tags["lepton.version"]),
                    environment=tags["lepton.environment"],
                    image_digest=tags.get("lepton.image_digest") or None,
                    outcome=tags["lepton.outcome"],
                    at=parse_time(tags["lepton.at"]),
                    actor=tags.get("lepton.actor"),
                    details=details,
                )
            )
        out.sort(key=lambda d: d.at, reverse=True)
        return out

    # -- metrics and history ---------------------------------------------------------------
    @_server_errors
    def log_metrics(
        self, name: str, version: int | None, metrics: Mapping[str, float], *, kind: str
    ) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        batch = [Metric(metric_key(f"{kind}/{k}"), float(v), stamp, 0) for k, v in metrics.items()]
        target = None if version is None else self._model_version(name, version).run_id
        event_run = self._event(
            name,
            version,
            "metrics",
            actor=current_actor(),
            details={"kind": kind, "count": len(metrics)},
        )
        for start in range(0, len(batch), 500):
            self._client.log_batch(target or event_run, metrics=batch[start : start + 500])

    @_server_errors
    def logged_metrics(
        self, name: str, version: int | None, kind: str | None = None
    ) -> dict[str, dict[str, float]]:
        query = "tags.`lepton.event` = 'metrics' AND tags.`lepton.version` = "
        query += f"'{'none' if version is None else int(version)}'"
        events = sorted(self._runs(name, query), key=lambda r: r.data.tags.get("lepton.at", ""))
        kinds = {json.loads(r.data.tags.get("lepton.details", "{}")).get("kind") for r in events}
        if version is not None:
            runs = [self._client.get_run(self._model_version(name, version).run_id)]
        else:
            runs = events
        out: dict[str, dict[str, float]] = {}
        for run in runs:
            for key, value in run.data.metrics.items():
                group, sep, metric = key.partition("/")
                if sep and group in kinds and (kind is None or group == kind):
                    out.setdefault(group, {})[metric] = float(value)
        return out

    @_server_errors
    def history(self, name: str) -> builtins.list[Event]:
        events = []
        for run in self._runs(name, ""):
            tags = run.data.tags
            if "lepton.event" not in tags:
                continue
            version = tags.get("lepton.version", "none")
            events.append(
                Event(
                    name=name,
                    version=None if version == "none" else int(version),
                    kind=tags["lepton.event"],
                    at=parse_time(tags["lepton.at"]),
                    actor=tags.get("lepton.actor"),
                    reason=tags.get("lepton.reason"),
                    details=json.loads(tags.get("lepton.details", "{}")),
                )
            )
        events.sort(key=lambda e: e.at)
        return events


def metric_key(key: str) -> str:
    return METRIC_KEY_BAD.sub("_", key)[:250]
