"""`lepton-ci run`: the pipeline, locally."""

from __future__ import annotations

import json
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
    from lepton_ci.localrun import raise_for, run_pipeline
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
    click.echo("")
    for item in result.results:
        mark = {"passed": "✓", "failed": "✗", "skipped": "-", "not-run": "·"}[item.status]
        extra = f"{item.seconds:6.1f}s" if item.status in {"passed", "failed"} else item.reason
        click.echo(f" {mark} {item.job:<22} {extra}")
    ran = {item.job for item in result.results if item.status in {"passed", "failed"}}
    _summary(ran)
    raise_for(result)


def _summary(ran: set[str]) -> None:
    """Reports, metrics, the HTML report and endpoints of the jobs that ran in this invocation."""
    from lepton_ci.layout import LAYOUT

    junit = Path(LAYOUT.junit)
    if "evaluate" in ran and junit.exists():
        click.echo(f"\nJUnit report: {junit}")
    metrics = Path(LAYOUT.metrics_json)
    if "evaluate" in ran and metrics.exists():
        data = json.loads(metrics.read_text())
        shown = {k: v for k, v in data.get("metrics", {}).items() if "/" not in k}
        click.echo(
            "metrics: "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
            )
        )
    report = Path(LAYOUT.report_html)
    if "report" in ran and report.exists():
        click.echo(f"report: {report}")
    for env_file in sorted(Path(LAYOUT.deploy_dir).glob("*.env")):
        if f"deploy-{env_file.stem}" not in ran:
            continue
        for line in env_file.read_text().splitlines():
            if line.startswith("LEPTON_DEPLOY_URL="):
                click.echo(f"endpoint ({env_file.stem}): {line.split('=', 1)[1]}")
