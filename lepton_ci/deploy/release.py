"""What a deployment deploys and what it leaves behind: releases, backends, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DeployFailed(Exception):
    """Raised inside a target when the new version must not take traffic (internal)."""

    def __init__(self, reason: str, logs: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs


@dataclass(frozen=True)
class Release:
    """One model version as a target runs it."""

    model: str
    version: int
    image: str | None = None  # docker/kubernetes: reference pinned by digest
    digest: str | None = None  # image digest (docker/kubernetes) or manifest digest (local)
    model_dir: Path | None = None  # local: the artifact directory served


@dataclass(frozen=True)
class Backend:
    """A running version behind the front (a container or a process)."""

    version: int
    digest: str | None
    port: int
    handle: str  # container id or pid


@dataclass
class Outcome:
    """What a deploy or rollback did; written to ``deploy/<env>.json``."""

    environment: str
    target: str
    model: str
    version: int
    digest: str | None
    image: str | None
    url: str
    outcome: str  # succeeded | failed | rolled_back | unchanged
    previous: dict[str, Any] | None = None
    reason: str | None = None
    seconds_to_ready: float | None = None
    seconds_total: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def pinned(image: str, digest: str | None) -> str:
    """``repo:tag`` + ``sha256:…`` -> ``repo@sha256:…`` (what is deployed is what was pushed)."""
    if not digest or "@" in image:
        return image
    repo = image
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo = image[: len(image) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@{digest}"
