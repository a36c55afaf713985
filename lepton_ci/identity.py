"""The identity of a model artifact: what it *is*, not when or how fast it was produced.

Two runs that produce the same artifact (a retried CI job, a rerun of an unchanged commit that
hit the step cache) write manifests that differ in timings, timestamps, the CI URL, git details
and the cache-hit record. The registry's idempotency key and every "is this the same model?"
comparison (deploy ``unchanged``, serve's ``manifest_digest``) use this digest, which leaves
those run-varying fields out. No dependencies: the registry and the runtime both import it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: manifest fields that change from run to run of the same artifact
RUN_VARYING_FIELDS = frozenset({"durations", "created_at", "ci_url", "git", "cache"})


def artifact_identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest without :data:`RUN_VARYING_FIELDS` (files, params, data hash, cache key…)."""
    return {k: v for k, v in manifest.items() if k not in RUN_VARYING_FIELDS}


def identity_digest(manifest: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of :func:`artifact_identity`."""
    canonical = json.dumps(
        artifact_identity(manifest), sort_keys=True, separators=(",", ":"), default=str
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
