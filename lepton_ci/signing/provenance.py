"""A version's provenance as an in-toto statement (issue 10 item 3): ``provenance.intoto.json``.

The statement (in-toto Statement v1) names the artifact it speaks for — ``subject``: every model
file and ``manifest.json`` with its sha256, the same digests the signature ``model.sig`` covers —
and says where it came from — ``predicate``: the git commit, the data hash, the training
parameters, the CI job that registered it (``CI_JOB_URL`` / ``BUILD_URL``) and the one that
trained it, the image digest when one is known and the signer's key fingerprint. Register
writes it beside the signature and keeps both with the version; ``models show`` prints it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/lepton-ci/lepton-ci/blob/main/docs/registry.md#provenance"
JOB_URL_VARIABLES = ("CI_JOB_URL", "BUILD_URL")  # GitLab, Jenkins: the job that registers


def job_url(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return next((env[v] for v in JOB_URL_VARIABLES if env.get(v)), None)


def statement(
    model_dir: Path,
    manifest: Mapping[str, Any],
    *,
    model: str,
    artifact_digest: str,
    signer: str | None,
    image_digest: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The in-toto statement of the verified model directory ``model_dir``."""
    files = manifest.get("files") or {}
    manifest_sha = hashlib.sha256((Path(model_dir) / "manifest.json").read_bytes()).hexdigest()
    subject = [{"name": "manifest.json", "digest": {"sha256": manifest_sha}}]
    subject += [{"name": rel, "digest": {"sha256": files[rel]["sha256"]}} for rel in sorted(files)]
    git = manifest.get("git") or {}
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "model": model,
            "artifact_digest": artifact_digest,
            "git_sha": git.get("commit"),
            "git_branch": git.get("branch"),
            "data_hash": manifest.get("data_hash"),
            "params": dict(manifest.get("params") or {}),
            "ci_job_url": job_url(env),
            "train_ci_url": manifest.get("ci_url"),
            "image_digest": image_digest,
            "signer": {"key_fingerprint": signer} if signer else None,
            "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }


def summary(provenance: Mapping[str, Any] | None, image_digest: str | None = None) -> list[str]:
    """Lines for ``models show``: the predicate's fields, the subject's size."""
    if not provenance:
        return ["provenance:  none (registered before provenance, or unsigned and unrecorded)"]
    predicate = provenance.get("predicate") or {}
    signer = (predicate.get("signer") or {}).get("key_fingerprint")
    params = predicate.get("params") or {}
    rows = [
        ("signed by", signer or "unsigned"),
        ("git sha", predicate.get("git_sha")),
        ("data hash", predicate.get("data_hash")),
        ("params", ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or None),
        ("CI job", predicate.get("ci_job_url")),
        ("trained in", predicate.get("train_ci_url")),
        ("image", predicate.get("image_digest") or image_digest),
        ("subject", f"{len(provenance.get('subject') or [])} files (in-toto statement)"),
    ]
    return ["provenance:"] + [f"  {label + ':':<12} {value or '-'}" for label, value in rows]
