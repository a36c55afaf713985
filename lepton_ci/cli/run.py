"""`lepton-ci run`: the pipeline, locally."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lepton_ci.cli.options import spec_option


@click.command()
@spec_option
@click.option("--from", "start", metavar="STAGE", help="Start at this stage.")
@click.option("--until", metavar="STAGE", help="Stop after this stage.")
@click.option("--only", multiple=True, metavar="STAGE", help="Run only this stage (repeatable).")
@click.option(
    "--trigger",
    type=click.Choice(["push", "merge_request", "schedule", "tag"]),
    default="push",
    show_default=True,
    help="Which pipeline to run: a commit, a merge request, scheduled retraining, or a tag.",
)
@click.option(
    "--branch",
    help="Branch (or tag, with --trigger tag) to behave as (default: the current git branch;"
    " the default branch with --trigger schedule).",
)
@click.option("--approve", is_flag=True, help="Approve manual gates without asking.")
@click.option("--with-setup", is_flag=True, help="Also run the agent setup (install lepton-ci).")
@click.option("--stream", is_flag=True, help="Stream every job's output (default on CI).")
def run(
    spec_path: str,
    start: str | None,
    until: str | None,
    only: tuple[str, ...],
    trigger: str,
    branch: str | None,
    approve: bool,
    with_setup: bool,
    stream: bool,
) -> None:
    """Run the pipeline locally: same jobs, commands and gates as Jenkins and GitLab."""
    from lepton_ci import console
    from lepton_ci.localrun import raise_for, result_lines, run_pipeline
    from lepton_ci.pipeline import build_pipeline
    from lepton_ci.spec import load_spec

    spec = load_spec(spec_path)
    pipeline = build_pipeline(spec, spec_path)
    root = Path(".")

    def ask(job: object) -> bool:
        if approve:
            return True
        if not sys.stdin.isatty():
            return False
        message = getattr(getattr(job, "approval", None), "message", "Continue?")
        return click.confirm(message, default=False)

    result = run_pipeline(
        pipeline,
        root,
        trigger=trigger,  # type: ignore[arg-type]
        branch=branch,
        start=start,
        until=until,
        only=only,
        approve=ask,
        with_setup=with_setup,
        stream=stream or not console.interactive(),
    )
    for line in result_lines(result):
        click.echo(line)
    raise_for(result)
