"""``lepton-ci metrics``: push a run's metrics to the registry and configured sinks."""

from __future__ import annotations

import click

from lepton_ci.cli.options import registry_option, run_dir_option, spec_option


@click.group("metrics")
def metrics() -> None:
    """Training/evaluation metrics and step timings: registry, Pushgateway, MLflow."""


@metrics.command("push")
@spec_option
@run_dir_option
@registry_option(
    "Registry location (SQLite file, postgresql:// URL or MLflow tracking URI), overriding the "
    "spec."
)
@click.option(
    "--environment",
    default=None,
    envvar="LEPTON_ENVIRONMENT",
    help="Environment label of the pushed metrics (Pushgateway grouping key).",
)
@click.option("--strict", is_flag=True, help="Fail (exit 6) when any sink was not reached.")
@click.option(
    "--retries",
    default=3,
    show_default=True,
    type=click.IntRange(0, 10),
    help="Retries per sink, with exponential backoff (0.5 s, 1 s, 2 s, …).",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="Seconds per request.",
)
def push(
    spec_path: str,
    run_dir: str,
    registry_location: str | None,
    environment: str | None,
    strict: bool,
    retries: int,
    timeout: float,
) -> None:
    """Push what the run produced, even when evaluation failed its gates.

    Pushgateway credentials come from LEPTON_PUSHGATEWAY_USER / LEPTON_PUSHGATEWAY_PASSWORD.
    """
    from lepton_ci.metrics import push_metrics
    from lepton_ci.spec.loader import load_spec

    push_metrics(
        load_spec(spec_path),
        run_dir,
        registry_location=registry_location,
        environment=environment,
        strict=strict,
        retries=retries,
        timeout=timeout,
    )
