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
@click.option(
    "--version",
    "version",
    default=None,
    metavar="V",
    help="Deploy this registered version (number or 'latest'), no run directory needed.",
)
@click.option(
    "--alias",
    "alias",
    default=None,
    help="Deploy the version this alias points at (e.g. champion), no run directory needed.",
)
@_timeout_option
def deploy(
    spec_path: str,
    run_dir: str,
    env_name: str,
    version: str | None,
    alias: str | None,
    ready_timeout: float,
) -> None:
    """Deploy the registered version to ENV; roll back automatically when it fails its checks.

    Reads register/model.env and image/image.env from the run directory, or with --version /
    --alias takes the version from the registry (target local: its files from the artifact
    store); writes deploy/ENV.json and deploy/ENV.env (LEPTON_DEPLOY_URL). Deploying what is
    live is a no-op.
    """
    from lepton_ci.deploy.core import deploy as run
    from lepton_ci.spec.loader import load_spec

    if version is not None and alias is not None:
        raise click.UsageError("give --version or --alias, not both")
    ref = None if alias is None else "@" + alias.lstrip("@")
    spec = load_spec(Path(spec_path))
    outcome = run(
        spec,
        env_name,
        run_dir=Path(run_dir),
        root=Path(spec_path).parent,
        ready_timeout=ready_timeout,
        ref=version or ref,
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
