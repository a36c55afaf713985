"""``lepton-ci report``: write the run's self-contained HTML report (and, with ``--publish``,
show it on the merge request; see :mod:`lepton_ci.adapters.publish`)."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option, spec_option


@click.command()
@run_dir_option
@spec_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--open", "open_", is_flag=True, help="Open the report in a web browser.")
@click.option(
    "--publish",
    is_flag=True,
    help="Then publish it where the run is: on a GitLab merge request, its one note with "
    "the plots and a link to the report (needs GITLAB_TOKEN); never fails the job.",
)
def report(run_dir: str, spec_path: str, output: Path | None, open_: bool, publish: bool) -> None:
    """Write the report dir: index.html (training curves, task plots, gates, lineage; one
    self-contained file), plots/*.png, summary.txt (one line) and metrics.txt (GitLab's
    metrics report). With -o FILE the page is FILE and the others go beside it."""
    from lepton_ci.report import write_report

    path = write_report(Path(run_dir), output)
    click.echo(f"report: {path}")
    if publish:
        from lepton_ci.adapters.publish import publish_report

        result = publish_report(
            path, Path(run_dir), spec_path=spec_path, warn=lambda line: click.echo(line, err=True)
        )
        click.echo(result.message, err=result.warning)
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
