"""``lepton-ci evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option, spec_option


@click.command()
@spec_option
@run_dir_option
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JUnit XML report path [default: RUN_DIR/evaluate/junit.xml].",
)
@click.option("--report-only", is_flag=True, help="Write the reports but never fail on gates.")
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: spec).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override an evaluate param (VALUE is YAML). Repeatable.",
)
@click.option(
    "--champion-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Compare with a previous run's evaluate/ directory instead of the registry.",
)
@click.option(
    "--no-cache", is_flag=True, help="Run the model even when the step cache has its predictions."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LEPTON_CACHE_DIR",
    help="Step cache shared by agents [env LEPTON_CACHE_DIR; ~/.cache/lepton-ci/steps].",
)
def evaluate(
    spec_path: str,
    run_dir: str,
    junit: Path | None,
    report_only: bool,
    device: str | None,
    params: tuple[str, ...],
    champion_dir: Path | None,
    no_cache: bool,
    cache_dir: Path | None,
) -> None:
    """Evaluate the trained model, apply the quality gates and write JUnit + metrics.json.

    Exits 4 when a gate fails (after writing every report) unless --report-only.
    """
    from lepton_ci.errors import MissingDependency

    try:
        from lepton_ci.runtime.evaluate import EvaluateOptions, run_evaluate
    except ModuleNotFoundError as exc:
        if exc.name == "numpy":
            raise MissingDependency("numpy", "train") from None
        raise
    from lepton_ci.runtime.params import parse_params
    from lepton_ci.spec import load_spec

    spec = load_spec(spec_path)
    options = EvaluateOptions(
        run_dir=Path(run_dir),
        junit=junit,
        report_only=report_only,
        device=device,
        params=parse_params(params),
        champion_dir=champion_dir,
        cache=not no_cache,
        cache_dir=cache_dir,
    )
    report = run_evaluate(spec, Path(spec_path), options)
    failed = sum(1 for g in report.gates if g.failed)
    skipped = sum(1 for g in report.gates if g.skipped)
    state = "passed" if report.passed else f"{failed} failed (--report-only)"
    click.echo(f"gates: {len(report.gates)} checked, {skipped} skipped, {state}")
