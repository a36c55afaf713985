"""Generator commands: init, render, validate, schema, pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lepton_ci.cli.options import spec_option
from lepton_ci.render.files import Outcome

STYLE = click.Choice(["library", "standalone"])


def _report(outcomes: dict[str, Outcome]) -> None:
    for path, outcome in outcomes.items():
        click.echo(f"  {path}: {outcome.value}")
    kept = [p for p, o in outcomes.items() if o is Outcome.KEPT]
    if kept:
        click.echo(
            f"kept {len(kept)} file(s) changed by hand: {', '.join(kept)} (--force overwrites)"
        )


@click.command()
@click.option("--name", help="Project name (default: the directory name).")
@click.option("--train-entrypoint", help="module:function that trains (default: detected).")
@click.option("--train-command", help="Shell command that trains, instead of an entrypoint.")
@click.option("--evaluate-entrypoint", help="module:function that evaluates (default: detected).")
@click.option("--evaluate-command", help="Shell command that evaluates, instead of an entrypoint.")
@click.option("--registry", default="127.0.0.1:5000", show_default=True, help="Image registry.")
@click.option("--base-image", default="python:3.11-slim", show_default=True)
@click.option("--style", type=STYLE, default="standalone", show_default=True)
@click.option("--gate", "gates", multiple=True, help="Quality gate, e.g. 'accuracy >= 0.9'.")
@click.option("--force", is_flag=True, help="Overwrite generated files changed by hand.")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path, force: bool, gates: tuple[str, ...], **answers: str | None) -> None:
    """Write lepton.yaml (when absent) and render the CI files in DIRECTORY.

    Asks for the project name when run on a terminal; otherwise uses flags and what it detects.
    """
    from lepton_ci.generate import InitOptions, init_repo

    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "lepton.yaml").exists() and sys.stdin.isatty() and not answers["name"]:
        answers["name"] = click.prompt("Project name", default=directory.resolve().name)
    options = InitOptions(**{k: v for k, v in answers.items() if v is not None})  # type: ignore[arg-type]
    if gates:
        options.gates = list(gates)
    result = init_repo(directory, options, force=force)
    click.echo("wrote lepton.yaml" if result.spec_written else "using existing lepton.yaml")
    _report(result.outcomes)


@click.command()
@spec_option
@click.option("--check", is_flag=True, help="Exit 5 with a diff when generated files are stale.")
@click.option("--force", is_flag=True, help="Overwrite generated files changed by hand.")
@click.option("--style", type=STYLE, default=None, help="Override ci.style from the spec.")
@click.option("--root", default=".", type=click.Path(file_okay=False, path_type=Path))
def render(spec_path: str, check: bool, force: bool, style: str | None, root: Path) -> None:
    """Re-render the generated files from the spec."""
    from lepton_ci.generate import check_repo, render_repo

    if check:
        check_repo(root, spec_path, style=style)
        click.echo("generated files are up to date")
        return
    _report(render_repo(root, spec_path, force=force, style=style))


@click.command()
@spec_option
def validate(spec_path: str) -> None:
    """Check the spec; print every problem with file, line and field."""
    from lepton_ci.pipeline.install_check import install_warnings
    from lepton_ci.spec import load_spec

    spec = load_spec(spec_path)
    click.echo(f"{spec_path}: valid (model {spec.model_name}, {len(spec.gates)} gate(s))")
    for warning in install_warnings(spec, Path(spec_path).resolve().parent):
        click.echo(f"warning: {warning}", err=True)
    registry = spec.registry
    if registry.sql and not registry.shared:
        from lepton_ci.registry import ENV_OVERRIDE, SHARED_BACKENDS, sql_location, workspace_local

        root = Path(spec_path).resolve().parent
        where = sql_location(registry.path, root)
        if isinstance(where, Path) and workspace_local(where, root):
            click.echo(
                f"warning: {spec_path}: registry.path {registry.path!r} is inside the workspace; "
                f"CI jobs do not share it, so in CI every command that uses the registry fails "
                f"unless {ENV_OVERRIDE} points elsewhere. Use {SHARED_BACKENDS}.",
                err=True,
            )


@click.command()
def schema() -> None:
    """Print the JSON Schema of lepton.yaml (for editors and yaml-language-server)."""
    from lepton_ci.spec.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@click.command()
@spec_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def pipeline(spec_path: str, fmt: str) -> None:
    """Show the platform-neutral pipeline the spec becomes."""
    from lepton_ci.pipeline import build_pipeline
    from lepton_ci.pipeline.model import shell_line
    from lepton_ci.pipeline.serialize import pipeline_to_dict
    from lepton_ci.spec import load_spec

    model = build_pipeline(load_spec(spec_path), spec_path)
    if fmt == "json":
        click.echo(json.dumps(pipeline_to_dict(model), indent=2))
        return
    for job in model.jobs:
        extras = []
        if job.needs:
            extras.append("needs " + ", ".join(job.needs))
        if job.approval:
            extras.append("manual approval")
        if job.rule.branches is not None:
            extras.append("only " + ", ".join(job.rule.branches))
        click.echo(f"{job.name}" + (f"  ({'; '.join(extras)})" if extras else ""))
        for command in job.commands:
            click.echo(f"    $ {shell_line(command)}")
