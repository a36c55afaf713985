"""``lepton-ci report``: write the run's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option


@click.command()
@run_dir_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--open", "open_", is_flag=True, help="Open the report in a web browser.")
def report(run_dir: str, output: Path | None, open_: bool) -> None:
    """Write one HTML file with training curves, task plots, gates and lineage."""
    from lepton_ci.report import write_report

    path = write_report(Path(run_dir), output)
    click.echo(f"report: {path}")
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
