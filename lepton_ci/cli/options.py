"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

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
        default=".lepton/run",
        envvar="LEPTON_RUN_DIR",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Directory steps read and write (handed between CI jobs).",
    )(func)
