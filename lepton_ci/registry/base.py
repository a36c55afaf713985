"""The model registry interface both backends (SQLite, MLflow) implement.

A *version* is one registered model artifact: its manifest, evaluation metrics and gate results,
the git sha and data hash it came from, a few small files (``samples.npz``), and later the image
it was built into. *Aliases* (``champion``, ``staging``…) point at versions; every move is an
:class:`Event`. *Deployments* record which version went to which environment and how it ended,
so "what served production at time T" and "what do we roll back to" are answerable.
"""

from __future__ import annotations

import abc
import builtins
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lepton_ci.errors import GateFailed, LeptonError

CHAMPION = "champion"
OUTCOMES = ("succeeded", "failed", "rolled_back")
ACTOR_VARIABLES = ("GITLAB_USER_LOGIN", "BUILD_USER_ID", "BUILD_USER", "USER")


class UnknownVersion(LeptonError):
    """The model or version is not in the registry."""

    def __init__(self, name: str, version: int | str) -> None:
        super().__init__(
            f"model {name!r} has no version {version} in the registry",
            hint="`lepton-ci models list` shows the registered versions",
        )
        self.name = name
        self.version = version


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model (immutable snapshot)."""

    name: str
    version: int
    created_at: datetime
    git_sha: str | None
    data_hash: str | None
    params: Mapping[str, Any]
    manifest: Mapping[str, Any]
    manifest_digest: str | None
    metrics: Mapping[str, Any]
    gates: tuple[Mapping[str, Any], ...]
    image: str | None = None
    image_digest: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def gates_passed(self) -> bool:
        """All gates passed (a skipped gate counts as passed; no gates: passed)."""
        return gates_passed(self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "created_at": iso(self.created_at),
            "git_sha": self.git_sha,
            "data_hash": self.data_hash,
            "params": dict(self.params),
            "manifest": dict(self.manifest),
            "manifest_digest": self.manifest_digest,
            "metrics": dict(self.metrics),
            "gates": [dict(g) for g in self.gates],
            "gates_passed": self.gates_passed,
            "image": self.image,
            "image_digest": self.image_digest,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class Deployment:
    """One deployment of a version to an environment (newest first in listings)."""

    name: str
    version: int
    environment: str
    image_digest: str | None
    outcome: str
    at: datetime
    actor: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "environment": self.environment,
            "image_digest": self.image_digest,
            "outcome": self.outcome,
            "at": iso(self.at),
            "actor": self.actor,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Event:
    """One entry of a model's history: registered, alias, image, deployment, metrics."""

    name: str
    version: int | None
    kind: str
    at: datetime
    actor: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "at": iso(self.at),
            "actor": self.actor,
            "reason": self.reason,
            "details": dict(self.details),
        }


class Registry(abc.ABC):
    """What every registry backend offers; open one with ``lepton_ci.registry.open_registry``."""

    #: where the registry lives, for messages (a path or a tracking URI without credentials)
    location: str = ""

    # -- versions -------------------------------------------------------------------------
    @abc.abstractmethod
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
        """Add the next version of ``name`` (monotonic, safe under concurrent processes), or
        return the version that already holds this artifact: ``(version, created)``.

        The artifact's identity is ``manifest_digest`` (default: the identity digest of
        ``manifest``, :func:`lepton_ci.identity.identity_digest`); one version per artifact.
        """

    def register(
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
    ) -> ModelVersion:
        """:meth:`register_artifact` without the ``created`` flag (idempotent by artifact)."""
        version, _created = self.register_artifact(
            name,
            manifest=manifest,
            metrics=metrics,
            gates=gates,
            git_sha=git_sha,
            data_hash=data_hash,
            params=params,
            files=files,
            manifest_digest=manifest_digest,
        )
        return version

    @abc.abstractmethod
    def get(self, name: str, version: int) -> ModelVersion:
        """The version, or :class:`UnknownVersion`."""

    @abc.abstractmethod
    def list(self, name: str) -> builtins.list[ModelVersion]:
        """All versions of ``name``, oldest first."""

    @abc.abstractmethod
    def latest(self, name: str) -> ModelVersion | None:
        """The highest version, or None when nothing is registered."""

    @abc.abstractmethod
    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at, or None."""

    def champion(self, name: str) -> ModelVersion | None:
        """The version the ``champion`` alias points at (relative gates compare against it)."""
        return self.by_alias(name, CHAMPION)

    @abc.abstractmethod
    def read_file(self, name: str, version: int, key: str) -> bytes | None:
        """A small file stored at register time (e.g. ``samples.npz``), or None."""

    # -- aliases and images ----------------------------------------------------------------
    @abc.abstractmethod
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
        """Point ``alias`` at ``version`` and log it. ``champion`` requires passed gates or
        ``forced=True`` with a reason (raises :class:`~lepton_ci.errors.GateFailed`)."""

    @abc.abstractmethod
    def set_image(self, name: str, version: int, *, image: str, digest: str) -> None:
        """Record the image the version was built into (``repo:tag`` and ``sha256:…``)."""

    # -- deployments -----------------------------------------------------------------------
    @abc.abstractmethod
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
        """Log a deployment; ``outcome`` is one of ``succeeded``, ``failed``, ``rolled_back``."""

    @abc.abstractmethod
    def deployments(self, name: str, environment: str | None = None) -> builtins.list[Deployment]:
        """Deployments of ``name`` (optionally to one environment), newest first."""

    def serving_at(self, name: str, environment: str, at: datetime) -> ModelVersion | None:
        """The version that served ``environment`` at time ``at``: the last deployment there
        that succeeded at or before ``at`` (naive times are UTC)."""
        moment = as_utc(at)
        for dep in self.deployments(name, environment):
            if dep.outcome == "succeeded" and dep.at <= moment:
                return self.get(name, dep.version)
        return None

    def previous_production(self, name: str, environment: str) -> ModelVersion | None:
        """What a rollback goes to: the newest successfully deployed version in
        ``environment`` that differs from the one serving now."""
        current: int | None = None
        for dep in self.deployments(name, environment):
            if dep.outcome != "succeeded":
                continue
            if current is None:
                current = dep.version
            elif dep.version != current:
                return self.get(name, dep.version)
        return None

    # -- metrics and history ---------------------------------------------------------------
    @abc.abstractmethod
    def log_metrics(
        self, name: str, version: int | None, metrics: Mapping[str, float], *, kind: str
    ) -> None:
        """Record metric values of ``kind`` (``train``, ``evaluate``, ``timing``…). ``version``
        None: a run that was not registered (e.g. it failed its gates)."""

    @abc.abstractmethod
    def logged_metrics(
        self, name: str, version: int | None, kind: str | None = None
    ) -> dict[str, dict[str, float]]:
        """The latest value of every metric logged with :meth:`log_metrics`, by kind."""

    @abc.abstractmethod
    def history(self, name: str) -> builtins.list[Event]:
        """Everything that happened to ``name``, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- helpers shared by the backends ----------------------------------------------------------


def gates_passed(gates: Any) -> bool:
    return all(bool(g.get("passed")) or bool(g.get("skipped")) for g in gates)


def current_actor() -> str | None:
    """Who is acting: the CI user (GitLab, Jenkins build-user-vars) or the local user."""
    for var in ACTOR_VARIABLES:
        value = os.environ.get(var)
        if value:
            return value
    return None


def now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def check_promotion(version: ModelVersion, alias: str, *, reason: str, forced: bool) -> None:
    """Champion only through passed gates, or forced with a reason (which gets logged)."""
    if forced and not reason.strip():
        raise LeptonError(
            "a forced promotion needs a reason", hint="add --reason 'why this is safe'"
        )
    if alias == CHAMPION and not version.gates_passed and not forced:
        failed = [g.get("name") or g.get("metric") for g in version.gates if not g.get("passed")]
        raise GateFailed(
            f"{version.name} version {version.version} did not pass its quality gates "
            f"({', '.join(map(str, failed)) or 'unknown'}); it cannot become {CHAMPION}",
            hint="override only deliberately: --force --reason TEXT (logged with your name)",
        )


def check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise LeptonError(f"unknown deployment outcome {outcome!r}; allowed: {', '.join(OUTCOMES)}")


def check_alias(alias: str) -> None:
    """Aliases are identifiers; ``latest`` and ``v<N>`` are reserved (MLflow gives them meaning)."""
    if (
        not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,62}", alias)
        or alias.lower() == "latest"
        or (re.fullmatch(r"[vV][0-9]+", alias))
    ):
        raise LeptonError(
            f"invalid alias {alias!r}",
            hint="aliases are letters, digits, '_' and '-', starting with a letter; "
            "'latest' and 'v<number>' are reserved",
        )
