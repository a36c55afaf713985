"""The ``lepton-ci`` command line: thin commands over library functions.

Subcommands load lazily from the table below, so ``lepton-ci --help`` and the generator never
import torch, docker or mlflow. All errors funnel through :func:`main`, which maps them to the
documented exit codes (docs/exit-codes.md) and hides tracebacks unless ``--verbose``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from lepton_ci import __version__
from lepton_ci.errors import ExitCode, LeptonError

# name -> (module:attribute, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("lepton_ci.cli.generate:init", "Write lepton.yaml (if absent) and render CI files."),
    "render": ("lepton_ci.cli.generate:render", "Re-render CI files from lepton.yaml (--check)."),
    "validate": ("lepton_ci.cli.generate:validate", "Check a lepton.yaml and report problems."),
    "schema": ("lepton_ci.cli.generate:schema", "Print the JSON Schema of lepton.yaml."),
    "pipeline": ("lepton_ci.cli.generate:pipeline", "Show the pipeline model the spec becomes."),
    "train": ("lepton_ci.cli.train:train", "Train the model (step)."),
    "evaluate": ("lepton_ci.cli.evaluate:evaluate", "Evaluate, apply quality gates, write JUnit."),
    "models": ("lepton_ci.cli.models:models", "Model registry: list, show, register, promote."),
    "metrics": ("lepton_ci.cli.metrics:metrics", "Push metrics to the registry and sinks."),
    "image": ("lepton_ci.cli.image:image", "Build and push the model image."),
    "serve": ("lepton_ci.cli.serve:serve", "Serve the model over HTTP (the image entrypoint)."),
    "deploy": ("lepton_ci.cli.deploy:deploy", "Deploy to an environment, rolling back on failure."),
    "rollback": (
        "lepton_ci.cli.deploy:rollback",
        "Roll an environment back to an earlier version.",
    ),
    "report": ("lepton_ci.cli.report:report", "Write the run's HTML report (plots, gates)."),
    "run": ("lepton_ci.cli.run:run", "Run the pipeline locally, as CI would."),
    "jenkins": ("lepton_ci.cli.jenkins:jenkins", "Sync, trigger and lint on a Jenkins controller."),
    "gitlab": ("lepton_ci.cli.gitlab:gitlab", "Lint, trigger, schedule and report on GitLab."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[name][0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("lepton_ci"):
                return _unavailable(name)
            raise
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str) -> click.Command:
    @click.command(name, help=COMMANDS[name][1], context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        raise LeptonError(f"`lepton-ci {name}` is not available in this build of lepton-ci")

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lepton-ci")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug output.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """lepton-ci: CI/CD for machine-learning models on Jenkins and GitLab.

    Describe the model repository once in lepton.yaml; lepton-ci renders the Jenkinsfile,
    .gitlab-ci.yml, Dockerfile and deploy manifests from it, and provides the step commands
    those pipelines run.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if verbose:
        os.environ["LEPTON_VERBOSE"] = "1"


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and turn errors into messages and exit codes."""
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    try:
        return cli.main(args=argv, prog_name="lepton-ci", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except LeptonError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if verbose:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "  this is a lepton-ci bug; rerun with --verbose for the traceback and report it",
            err=True,
        )
        sys.exit(ExitCode.FAILURE)
