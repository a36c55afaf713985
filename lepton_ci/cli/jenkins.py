"""``lepton-ci jenkins``: sync the job, trigger builds, lint Jenkinsfiles on a controller.

Credentials come from JENKINS_URL, JENKINS_USER and JENKINS_TOKEN only (see
docs/jenkins-server.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lepton_ci.cli.options import spec_option


def _parameters(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: write KEY=VALUE", param_hint="-p/--param")
        out[key] = val
    return out


@click.group()
def jenkins() -> None:
    """Sync, trigger and lint on a Jenkins controller (JENKINS_URL, JENKINS_USER, JENKINS_TOKEN)."""


@jenkins.command()
@spec_option
@click.option(
    "--job", "job_name", help="Job name, folder/job in folders (default: the model name)."
)
@click.option(
    "--kind",
    type=click.Choice(["pipeline", "multibranch"]),
    default="multibranch",
    show_default=True,
    help="Multibranch project (branches and tags), or a Pipeline job on the default branch.",
)
@click.option("--repo-url", help="Git URL the controller clones (default: this checkout's origin).")
@click.option("--credentials-id", help="Jenkins credential id the controller clones with.")
@click.option("--script-path", default="Jenkinsfile", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite a job that was edited on the controller.")
@click.option("--dry-run", is_flag=True, help="Print the job XML; contact no controller.")
def sync(
    spec_path: str,
    job_name: str | None,
    kind: str,
    repo_url: str | None,
    credentials_id: str | None,
    script_path: str,
    force: bool,
    dry_run: bool,
) -> None:
    """Create or update the model's job from the spec; a second run changes nothing."""
    from lepton_ci.adapters.jenkins import JenkinsServer, sync_job
    from lepton_ci.platforms.jenkins_job import spec_job_xml

    name, xml = spec_job_xml(
        spec_path,
        job=job_name,
        kind=kind,  # type: ignore[arg-type]
        repo_url=repo_url,
        credentials_id=credentials_id,
        script_path=script_path,
    )
    if dry_run:
        click.echo(xml, nl=False)
        return
    result = sync_job(JenkinsServer.from_env(), name, xml, force=force)
    click.echo(f"job {result.job}: {result.action}")
    for line in result.changes:
        click.echo(f"  {line}")


@jenkins.command()
@click.option("--job", "job_name", required=True, help="Job name (folder/job in folders).")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Build parameter (repeatable).",
)
@click.option(
    "--poll-interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.0),
    help="Seconds between console/queue polls.",
)
@click.option("--no-follow", is_flag=True, help="Queue the build and exit.")
def build(job_name: str, params: tuple[str, ...], poll_interval: float, no_follow: bool) -> None:
    """Trigger a build, follow its console, exit with its result (0 ok, 4 gates, 1 failed)."""
    from lepton_ci.adapters.jenkins import JenkinsServer, check_outcome, run_build

    server = JenkinsServer.from_env()
    parameters = _parameters(params)
    if no_follow:
        queue_id = server.start_build(job_name, parameters)
        click.echo(f"queued {job_name} (queue item {queue_id})")
        return

    def out(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    outcome = run_build(server, job_name, parameters, out=out, poll=poll_interval)
    click.echo(f"\nbuild #{outcome.number}: {outcome.result}")
    if outcome.tests is None:
        click.echo("no test report published")
    else:
        t = outcome.tests
        click.echo(f"gates: {t.passed} passed, {t.failed} failed, {t.skipped} skipped")
        for name in t.failed_names:
            click.echo(f"  FAILED {name}")
    check_outcome(outcome)


@jenkins.command()
@click.argument(
    "file", default="Jenkinsfile", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def lint(file: Path) -> None:
    """Validate a Jenkinsfile with the controller's declarative linter."""
    from lepton_ci.adapters.jenkins import JenkinsServer, lint_jenkinsfile

    answer = lint_jenkinsfile(JenkinsServer.from_env(), file.read_text(encoding="utf-8"), str(file))
    click.echo(f"{file}: {answer}")
