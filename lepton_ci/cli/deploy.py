"""``lepton-ci deploy`` and ``lepton-ci rollback``: thin commands over :mod:`lepton_ci.deploy`."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option, spec_option

_env_option = click.option("--env", "env_name", required=True, help="Environment name (spec).")
_timeout_option = click.option(
    "--ready-timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds the new version has to become ready before it is rolled back.",
)


@click.command()
@spec_option
@run_dir_option
@_env_option
@_timeout_option
def deploy(spec_path: str, run_dir: str, env_name: str, ready_timeout: float) -> None:
    """Deploy the registered version to ENV; roll back automatically when it fails its checks.

    Reads register/model.env and image/image.env from the run directory; writes
    deploy/ENV.json and deploy/ENV.env (LEPTON_DEPLOY_URL). Deploying what is live is a no-op.
    """
    from lepton_ci.deploy.core import deploy as run
    from lepton_ci.spec.loader import load_spec

    spec = load_spec(Path(spec_path))
    outcome = run(
        spec,
        env_name,
        run_dir=Path(run_dir),
        root=Path(spec_path).parent,
        ready_timeout=ready_timeout,
    )
    click.echo(
        f"{outcome.environment}: version {outcome.version} {outcome.outcome} at {outcome.url}"
    )


@click.command()
@spec_option
@run_dir_option
@_env_option
@click.option(
    "--to",
    "to",
    type=click.IntRange(min=1),
    default=None,
    help="Version to go back to (default: the previous successful deployment).",
)
@_timeout_option
def rollback(
    spec_path: str, run_dir: str, env_name: str, to: int | None, ready_timeout: float
) -> None:
    """Roll ENV back to an earlier version, with the same checks as a deploy."""
    from lepton_ci.deploy.core import rollback as run
    from lepton_ci.spec.loader import load_spec

    spec = load_spec(Path(spec_path))
    outcome = run(
        spec,
        env_name,
        to=to,
        run_dir=Path(run_dir),
        root=Path(spec_path).parent,
        ready_timeout=ready_timeout,
    )
    click.echo(
        f"{outcome.environment}: version {outcome.version} {outcome.outcome} at {outcome.url}"
    )
