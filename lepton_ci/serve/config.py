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


def configure(
    spec_path: str | Path,
    run_dir: str | Path,
    *,
    model_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    max_batch: int | None = None,
    batch_size: int | None = None,
    batch_latency_ms: float | None = None,
    queue_timeout_ms: float | None = None,
    workers: int | None = None,
    entrypoint: str | None = None,
    threads: int | None = None,
    model_version: str | None = None,
    graceful_timeout: float = 30.0,
    access_log: bool = False,
    protect_metrics: bool = False,
) -> ServeConfig:
    """What `lepton-ci serve` serves: the options given, else the spec's ``serve.*`` and
    ``image.port`` (the spec is optional: the image has none), else the defaults. The model
    is ``RUN_DIR/train`` unless ``model_dir`` is given, its version the one in
    ``register/model.env`` unless ``model_version`` is; the signing policy comes from the
    spec's ``registry.signing``, without a spec from ``LEPTON_SIGNING_PUBLIC_KEY``."""
    from lepton_ci.run_dir import RunDir
    from lepton_ci.signing import policy_from_spec
    from lepton_ci.spec.model import BatchingSpec

    run = RunDir.at(run_dir)
    serve_spec, default_port, signing = None, 8080, policy_from_env()
    if Path(spec_path).is_file():
        from lepton_ci.spec.loader import load_spec

        spec = load_spec(spec_path)
        serve_spec, default_port = spec.serve, spec.image.port
        signing = policy_from_spec(spec, Path(spec_path).parent)
    batching = serve_spec.batching if serve_spec else BatchingSpec()
    if model_version is None:
        registered = run.read_model_env()
        model_version = str(registered.version) if registered else None
    return ServeConfig(
        model_dir=model_dir or run.train_dir,
        host=host,
        port=port or default_port,
        max_batch=max_batch or (serve_spec.max_batch if serve_spec else 256),
        workers=workers or (serve_spec.workers if serve_spec else 1),
        entrypoint=entrypoint or (serve_spec.entrypoint if serve_spec else None),
        threads=threads,
        model_version=model_version,
        graceful_timeout=graceful_timeout,
        access_log=access_log,
        batch_size=batch_size or batching.max_batch_size,
        batch_latency_ms=(
            batch_latency_ms if batch_latency_ms is not None else batching.max_latency_ms
        ),
        queue_timeout_ms=queue_timeout_ms or batching.queue_timeout_ms,
        token=token_from_env(),
        protect_metrics=protect_metrics,
        signing=signing,
    )
