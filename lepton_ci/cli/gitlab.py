"""``lepton-ci gitlab``: CI lint, pipeline triggers, schedules, deployment approvals, MR reports.

Credentials come from GITLAB_URL (or CI_SERVER_URL) and GITLAB_TOKEN (or CI_JOB_TOKEN) only
(see docs/gitlab-server.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option, spec_option

_PROJECT = click.option(
    "--project", help="Project id or group/name (default: the CI job's CI_PROJECT_ID)."
)


def _variables(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: write KEY=VALUE", param_hint="--var")
        out[key] = val
    return out


@click.group()
def gitlab() -> None:
    """Lint, trigger, schedule, protect and report on GitLab (GITLAB_URL, GITLAB_TOKEN)."""


@gitlab.command()
@_PROJECT
@click.option("--ref", help="Branch or tag whose context resolves includes (default: default).")
@click.argument(
    "file", default=".gitlab-ci.yml", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def lint(project: str | None, ref: str | None, file: Path) -> None:
    """Validate a .gitlab-ci.yml with the project's CI Lint API (includes resolved)."""
    from lepton_ci.adapters.gitlab import GitLabServer, lint_ci, project_from_env

    answer = lint_ci(
        GitLabServer.from_env(),
        project_from_env(project),
        file.read_text(encoding="utf-8"),
        str(file),
        ref=ref,
    )
    includes = answer.get("includes") or []
    click.echo(f"{file}: valid ({len(includes)} include(s) resolved)")
    for include in includes:
        click.echo(f"  include {include.get('type', '?')}: {include.get('location', '?')}")
    for warning in answer.get("warnings") or []:
        click.echo(f"  warning: {warning}")


@gitlab.command()
@_PROJECT
@click.option("--ref", required=True, help="Branch or tag to run the pipeline on.")
@click.option(
    "--var", "variables", multiple=True, metavar="KEY=VALUE", help="Pipeline variable (repeatable)."
)
@click.option("--poll-interval", default=5.0, show_default=True, type=click.FloatRange(0.0))
@click.option("--no-follow", is_flag=True, help="Start the pipeline and exit.")
def trigger(
    project: str | None, ref: str, variables: tuple[str, ...], poll_interval: float, no_follow: bool
) -> None:
    """Start a pipeline, follow its jobs, exit with its status (0 success, 1 failed)."""
    from lepton_ci.adapters.gitlab import (
        GitLabServer,
        check_pipeline,
        follow_pipeline,
        project_from_env,
    )

    server = GitLabServer.from_env()
    project_ref = project_from_env(project)
    pipeline = server.create_pipeline(project_ref, ref, _variables(variables))
    click.echo(f"pipeline {pipeline['id']} created on {ref}: {pipeline.get('web_url')}")
    if no_follow:
        return
    final = follow_pipeline(server, project_ref, pipeline, out=click.echo, poll=poll_interval)
    click.echo(f"pipeline {final['id']}: {final.get('status')}")
    check_pipeline(final, server.pipeline_jobs(project_ref, int(final["id"])))


@gitlab.command()
@spec_option
@_PROJECT
def schedule(spec_path: str, project: str | None) -> None:
    """Create or update the retraining schedule from the spec's schedule.retrain."""
    from lepton_ci.adapters.gitlab import GitLabServer, ensure_schedule, project_from_env
    from lepton_ci.errors import LeptonError
    from lepton_ci.spec import load_spec

    spec = load_spec(spec_path)
    if not spec.schedule.retrain:
        raise LeptonError(
            f"{spec_path}: schedule.retrain is not set; nothing to schedule",
            hint="add `schedule: {retrain: '0 3 * * 1'}` to the spec",
        )
    result = ensure_schedule(
        GitLabServer.from_env(),
        project_from_env(project),
        description=f"lepton-ci retrain {spec.model_name}",
        ref=spec.project.default_branch,
        cron=spec.schedule.retrain,
        timezone=spec.schedule.timezone,
    )
    click.echo(f"schedule {result.schedule_id}: {result.action}")
    for line in result.changes:
        click.echo(f"  {line}")


@gitlab.command()
@spec_option
@_PROJECT
@click.option(
    "--dry-run", is_flag=True, help="Look everything up, print the changes; write nothing."
)
def protect(spec_path: str, project: str | None, dry_run: bool) -> None:
    """Require the spec's approvers for each `approval: true` environment (Premium)."""
    from lepton_ci.adapters.gitlab import GitLabServer, project_from_env
    from lepton_ci.adapters.gitlab_protect import Protection, ensure_protection
    from lepton_ci.errors import LeptonError
    from lepton_ci.spec import load_spec

    spec = load_spec(spec_path)
    wanted = [
        Protection(env.name, ("deploy", "environments", index), tuple(env.approvers))
        for index, env in enumerate(spec.deploy.environments)
        if env.approval
    ]
    if not wanted:
        raise LeptonError(
            f"{spec_path}: no environment sets `approval: true`; nothing to protect",
            hint="add `approval: true` (and `approvers: [username or group/path]`) to an "
            "environment under deploy.environments",
        )
    results = ensure_protection(
        GitLabServer.from_env(),
        project_from_env(project),
        wanted,
        spec_file=spec_path,
        dry_run=dry_run,
    )
    for result in results:
        click.echo(f"protected environment {result.environment}: {result.action}")
        for line in result.changes:
            click.echo(f"  {line}")
    for env in spec.deploy.environments:
        if not env.approval:
            click.echo(f"environment {env.name}: no approval in the spec, left alone")


@gitlab.command()
@spec_option
@run_dir_option
@_PROJECT
@click.option("--mr", "mr_iid", type=int, help="Merge request IID (default: CI_MERGE_REQUEST_IID).")
@click.option("--dry-run", is_flag=True, help="Print the note; post nothing.")
def report(
    spec_path: str, run_dir: str, project: str | None, mr_iid: int | None, dry_run: bool
) -> None:
    """Post (or update) the merge request's one note with metrics, gates and champion diff."""
    from lepton_ci.adapters.publish import merge_request_note

    text = merge_request_note(
        Path(run_dir),
        spec_path=spec_path,
        project=project,
        mr_iid=mr_iid,
        dry_run=dry_run,
        warn=lambda line: click.echo(line, err=True),
    )
    click.echo(text, nl=False)
