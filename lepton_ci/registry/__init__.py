"""Model registry: versions, aliases, images, deployments and metrics of each model.

``open_registry(spec)`` returns the backend the spec names (``registry.backend``): the SQL
registry (default; an embedded SQLite file or a PostgreSQL database) or an MLflow
tracking/registry server. Both implement :class:`Registry`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lepton_ci.errors import ExitCode, LeptonError
from lepton_ci.registry.base import (
    CHAMPION,
    Deployment,
    Event,
    ModelVersion,
    Registry,
    UnknownVersion,
    current_actor,
)

if TYPE_CHECKING:
    from lepton_ci.spec.model import Spec

__all__ = [
    "CHAMPION",
    "Deployment",
    "Event",
    "ModelVersion",
    "Registry",
    "UnknownVersion",
    "UnservedLocation",
    "WorkspaceRegistryInCI",
    "check_shared",
    "current_actor",
    "open_registry",
]

ENV_OVERRIDE = "LEPTON_REGISTRY"
#: set by GitLab (``CI``, ``GITLAB_CI``), Jenkins (``JENKINS_URL``) and most other CI systems
CI_VARIABLES = ("CI", "GITLAB_CI", "JENKINS_URL")
SQL_LOCATIONS = "a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB"
SHARED_BACKENDS = (
    "PostgreSQL (LEPTON_REGISTRY=postgresql://lepton@db.example.com/lepton, password in "
    "PGPASSWORD), MLflow (registry: {backend: mlflow, tracking_uri: https://...}), or a SQLite "
    "file on a host path every job sees (LEPTON_REGISTRY=/var/lib/lepton-ci/registry.db, or "
    "registry.path with registry.shared: true)"
)
#: URL schemes of PostgreSQL (libpq's two spellings, and SQLAlchemy's with the driver named)
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class UnservedLocation(LeptonError):
    """A registry location (``--registry``, ``LEPTON_REGISTRY``) no backend serves."""

    exit_code = ExitCode.SPEC


class WorkspaceRegistryInCI(LeptonError):
    """The registry is a file inside the job's workspace, which CI jobs do not share."""

    exit_code = ExitCode.SPEC


def in_ci() -> str | None:
    """The CI variable that is set (``CI``, ``GITLAB_CI``, ``JENKINS_URL``), or None."""
    return next((v for v in CI_VARIABLES if os.environ.get(v)), None)


def is_postgres(location: str) -> bool:
    """``location`` is a PostgreSQL URL (``postgresql://…``)."""
    match = _SCHEME.match(location)
    return match is not None and match.group(1).lower() in POSTGRES_SCHEMES


def sql_location(location: str, root: Path) -> Path | str:
    """The SQLite file (a Path) or the PostgreSQL URL (a str) a location names."""
    return location if is_postgres(location) else sqlite_path(location, root)


def sqlite_path(location: str, root: Path) -> Path:
    """The SQLite file a location names; any other URL is refused, naming what is served."""
    match = _SCHEME.match(location)
    if match:
        if match.group(1).lower() != "sqlite":
            raise UnservedLocation(
                f"registry location {redact(location)!r}: the sql backend does not serve "
                f"{match.group(1)}:// URLs (it serves {SQL_LOCATIONS})",
                hint="supported: a file path, sqlite:///PATH, postgresql://USER@HOST/DB, or "
                "registry.backend: mlflow with an MLflow tracking URI (http://, https://, "
                "sqlite:///, file:)",
            )
        # SQLAlchemy's form: sqlite:///relative.db, sqlite:////absolute/path.db
        location = location[match.end() :].removeprefix("/")
        if not location:
            raise UnservedLocation("registry location 'sqlite://' names no file")
    path = Path(location)
    return path if path.is_absolute() else Path(root) / path


def workspace_local(path: Path, root: Path) -> bool:
    """``path`` lies inside the workspace ``root`` (so a fresh CI job starts without it)."""
    try:
        path.resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


def check_shared(spec: Spec, root: Path, location: str | None) -> None:
    """In CI, refuse a registry file inside the workspace unless the spec says it is shared."""
    variable = in_ci()
    config = spec.registry
    if variable is None or not config.sql or config.shared:
        return
    path = sql_location(location or config.path, root)
    if isinstance(path, Path) and workspace_local(path, root):
        raise WorkspaceRegistryInCI(
            f"the model registry {path} is inside the workspace, and this is CI ({variable} is "
            "set): each job would start with an empty registry, so champion gates would compare "
            "against nothing and later jobs would not find the registered version",
            hint=f"point every job at one shared registry: set {ENV_OVERRIDE} (a CI variable) "
            f"or `registry:` in lepton.yaml to {SHARED_BACKENDS}",
        )


def redact(location: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(location)
    if parts.password is None and parts.username is None:
        return location
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def open_registry(spec: Spec, root: Path = Path("."), location: str | None = None) -> Registry:
    """Open the registry the spec configures.

    ``location`` (CLI ``--registry``), else env ``LEPTON_REGISTRY``, overrides where it lives:
    the database for backend ``sql`` (alias ``sqlite``): a SQLite file (a path, relative to
    ``root``, the repo root, or ``sqlite:///PATH``) or a ``postgresql://`` URL; other URLs are
    refused. For backend ``mlflow`` it is the tracking URI.
    In CI a SQLite file inside the workspace is refused unless ``registry.shared`` is true.
    """
    override = location or os.environ.get(ENV_OVERRIDE) or None
    config = spec.registry
    if config.backend == "mlflow":
        from lepton_ci.registry.mlflow import MlflowRegistry

        uri = override or config.tracking_uri
        assert uri is not None  # the spec validator requires it
        return MlflowRegistry(uri)
    from lepton_ci.registry.sql import SqlRegistry

    where = sql_location(override or config.path, root)
    check_shared(spec, root, override)
    return SqlRegistry(where)
