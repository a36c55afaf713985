"""What `lepton-ci serve` needs to know, resolved from options, environment and the spec."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lepton_ci.serve.auth import TOKEN_FILE_VAR, TOKEN_VAR, token_from_env
from lepton_ci.signing import UNSIGNED, Policy, policy_env, policy_from_env


def default_threads(workers: int) -> int:
    """Intra-op torch threads per worker: the CPUs this process may use, shared by workers."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, workers))


@dataclass(frozen=True)
class ServeConfig:
    model_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    max_batch: int = 256
    entrypoint: str | None = None
    workers: int = 1
    threads: int | None = None  # torch intra-op threads; None: default_threads(workers)
    model_version: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    graceful_timeout: float = 30.0
    access_log: bool = False
    batch_size: int = 32  # rows per forward pass (adaptive batching); 1: off
    batch_latency_ms: float = 0.0
    queue_timeout_ms: float = 1000.0
    # bearer token for /predict (serve/auth.py); None: open. Not in repr: never in a log.
    token: str | None = field(default=None, repr=False)
    protect_metrics: bool = False  # /metrics needs the token too
    signing: Policy = UNSIGNED  # the signature check before the model loads (lepton_ci.signing)

    @property
    def torch_threads(self) -> int:
        return self.threads or default_threads(self.workers)

    # Worker processes (workers > 1) rebuild the config from these variables.
    def to_env(self) -> dict[str, str]:
        env = {
            "LEPTON_SERVE_MODEL_DIR": str(self.model_dir),
            "LEPTON_SERVE_MAX_BATCH": str(self.max_batch),
            "LEPTON_SERVE_WORKERS": str(self.workers),
            "LEPTON_SERVE_THREADS": str(self.torch_threads),
            "LEPTON_SERVE_MAX_BODY": str(self.max_body_bytes),
            "LEPTON_SERVE_BATCH_SIZE": str(self.batch_size),
            "LEPTON_SERVE_BATCH_LATENCY_MS": str(self.batch_latency_ms),
            "LEPTON_SERVE_QUEUE_TIMEOUT_MS": str(self.queue_timeout_ms),
            "LEPTON_SERVE_PROTECT_METRICS": "1" if self.protect_metrics else "",
        }
        if self.token:  # worker processes inherit the environment; argv never holds it
            env.update({TOKEN_VAR: self.token, TOKEN_FILE_VAR: ""})
        env.update(policy_env(self.signing))
        if self.entrypoint:
            env["LEPTON_SERVE_ENTRYPOINT"] = self.entrypoint
        if self.model_version:
            env["LEPTON_MODEL_VERSION"] = self.model_version
        return env

    @classmethod
    def from_env(cls) -> ServeConfig:
        env = os.environ
        return cls(
            model_dir=Path(env["LEPTON_SERVE_MODEL_DIR"]),
            max_batch=int(env.get("LEPTON_SERVE_MAX_BATCH", "256")),
            entrypoint=env.get("LEPTON_SERVE_ENTRYPOINT") or None,
            workers=int(env.get("LEPTON_SERVE_WORKERS", "1")),
            threads=int(env["LEPTON_SERVE_THREADS"]) if env.get("LEPTON_SERVE_THREADS") else None,
            model_version=env.get("LEPTON_MODEL_VERSION") or None,
            max_body_bytes=int(env.get("LEPTON_SERVE_MAX_BODY", str(32 * 1024 * 1024))),
            batch_size=int(env.get("LEPTON_SERVE_BATCH_SIZE", "32")),
            batch_latency_ms=float(env.get("LEPTON_SERVE_BATCH_LATENCY_MS", "0")),
            queue_timeout_ms=float(env.get("LEPTON_SERVE_QUEUE_TIMEOUT_MS", "1000")),
            token=token_from_env(env),
            protect_metrics=bool(env.get("LEPTON_SERVE_PROTECT_METRICS")),
            signing=policy_from_env(env),
        )
