"""Model registry: versions, aliases, images, deployments and metrics of each model.

``open_registry(spec)`` returns the backend the spec names (``registry.backend``): an embedded
SQLite file (default) or an MLflow tracking/registry server. Both implement :class:`Registry`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

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
    "current_actor",
    "open_registry",
]

ENV_OVERRIDE = "LEPTON_REGISTRY"


def open_registry(spec: Spec, root: Path = Path("."), location: str | None = None) -> Registry:
    """Open the registry the spec configures.

    ``location`` (CLI ``--registry``), else env ``LEPTON_REGISTRY``, overrides where it lives:
    the SQLite file for backend ``sqlite`` (relative paths are relative to ``root``, the repo
    root) or the tracking URI for backend ``mlflow``.
    """
    override = location or os.environ.get(ENV_OVERRIDE) or None
    config = spec.registry
    if config.backend == "mlflow":
        from lepton_ci.registry.mlflow import MlflowRegistry

        uri = override or config.tracking_uri
        assert uri is not None  # the spec validator requires it
        return MlflowRegistry(uri)
    from lepton_ci.registry.sqlite import SqliteRegistry

    path = Path(override or config.path)
    if not path.is_absolute():
        path = Path(root) / path
    return SqliteRegistry(path)
