"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from lepton_ci.layout import RUN_DIR

F = TypeVar("F", bound=Callable[..., Any])


def spec_option(func: F) -> F:
    """``--spec PATH`` (env ``LEPTON_SPEC``), default ``lepton.yaml``."""
    return click.option(
        "--spec",
        "spec_path",
        default="lepton.yaml",
        envvar="LEPTON_SPEC",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The spec file.",
    )(func)


def run_dir_option(func: F) -> F:
    """``--run-dir DIR`` (env ``LEPTON_RUN_DIR``): where steps hand artifacts to each other."""
    return click.option(
        "--run-dir",
        default=RUN_DIR,
        envvar="LEPTON_RUN_DIR",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Directory steps read and write (handed between CI jobs).",
    )(func)


def registry_option(help: str) -> Callable[[F], F]:
    """``--registry LOCATION`` (env ``LEPTON_REGISTRY``); a password in it is refused on the
    command line (every user of the machine sees argv) but allowed from the environment."""
    return click.option(
        "--registry",
        "registry_location",
        default=None,
        envvar="LEPTON_REGISTRY",
        callback=_no_password_in_argv,
        help=help,
    )


def _no_password_in_argv(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from urllib.parse import urlsplit

    if not value or ctx.get_parameter_source(str(param.name)) is not ParameterSource.COMMANDLINE:
        return value
    try:
        password = urlsplit(value).password
    except ValueError:
        return value
    if password is not None:
        raise click.BadParameter(
            "a password on the command line is visible to every process on the machine; "
            "leave it out of the URL and set PGPASSWORD (or use ~/.pgpass)"
        )
    return value
