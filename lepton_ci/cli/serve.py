"""`lepton-ci serve`: serve the trained model over HTTP (the image's entrypoint)."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option


@click.command("serve")
@click.option(
    "--spec",
    "spec_path",
    default="lepton.yaml",
    envvar="LEPTON_SPEC",
    type=click.Path(dir_okay=False),
    help="Spec for defaults (serve.*, image.port); optional, not needed in the image.",
)
@run_dir_option
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Artifact directory (default: RUN_DIR/train).",
)
@click.option("--host", envvar="LEPTON_SERVE_HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    envvar="LEPTON_SERVE_PORT",
    type=int,
    help="Port (default: image.port from the spec, else 8080).",
)
@click.option("--max-batch", type=click.IntRange(1, 65536), help="Most inputs per request.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 65536),
    help="Most input rows per forward pass (adaptive batching; 1: off; default 32).",
)
@click.option(
    "--batch-latency-ms",
    type=click.FloatRange(0, 1000),
    help="Wait for batch-mates after a batch's first request (default 0: none).",
)
@click.option(
    "--queue-timeout-ms",
    type=click.FloatRange(1, 600000),
    help="A request queued longer is answered 503 with Retry-After (default 1000).",
)
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--entrypoint", help="Custom predictor `module:function(model_dir)`.")
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    envvar="LEPTON_TORCH_THREADS",
    help="torch intra-op threads per worker (default: CPUs / workers).",
)
@click.option(
    "--model-version",
    envvar="LEPTON_MODEL_VERSION",
    help="Registry version reported in responses and metrics.",
)
@click.option(
    "--graceful-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds in-flight requests may take to finish after SIGTERM.",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    "--protect-metrics/--open-metrics",
    envvar="LEPTON_SERVE_PROTECT_METRICS",
    default=False,
    show_default=True,
    help="Whether /metrics needs the bearer token as /predict does.",
)
def serve(
    spec_path: str,
    run_dir: str,
    model_dir: Path | None,
    host: str,
    port: int | None,
    max_batch: int | None,
    batch_size: int | None,
    batch_latency_ms: float | None,
    queue_timeout_ms: float | None,
    workers: int | None,
    entrypoint: str | None,
    threads: int | None,
    model_version: str | None,
    graceful_timeout: float,
    access_log: bool,
    protect_metrics: bool,
) -> None:
    """Verify the artifact against its manifest (and its signature, with registry.signing in
    the spec or LEPTON_SIGNING_PUBLIC_KEY), then serve /predict, /healthz, /readyz and
    /metrics until SIGTERM (in-flight requests are drained).

    /predict needs ``Authorization: Bearer <token>`` when LEPTON_SERVE_TOKEN (or the file
    LEPTON_SERVE_TOKEN_FILE names) is set; without one the API is open, and serve says so."""
    from lepton_ci.serve.config import configure
    from lepton_ci.serve.server import serve as run

    run(
        configure(
            spec_path,
            run_dir,
            model_dir=model_dir,
            host=host,
            port=port,
            max_batch=max_batch,
            batch_size=batch_size,
            batch_latency_ms=batch_latency_ms,
            queue_timeout_ms=queue_timeout_ms,
            workers=workers,
            entrypoint=entrypoint,
            threads=threads,
            model_version=model_version,
            graceful_timeout=graceful_timeout,
            access_log=access_log,
            protect_metrics=protect_metrics,
        )
    )
