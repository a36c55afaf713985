"""Import ``module:function`` entrypoints from the model repository."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lepton_ci.errors import StepError


def load_entrypoint(spec: str, root: Path) -> Callable[..., Any]:
    """Import ``package.module:function`` with ``root`` first on ``sys.path``.

    A module of the same name imported earlier from another directory is dropped first, so
    the repository's own code is what runs.
    """
    module_name, _, attr = spec.partition(":")
    root = root.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    top = module_name.split(".")[0]
    loaded = sys.modules.get(top)
    origin = getattr(loaded, "__file__", None) if loaded else None
    if loaded is not None and origin and not Path(origin).resolve().is_relative_to(root):
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        traceback.print_exc()
        raise StepError(
            f"cannot import {module_name!r} for entrypoint {spec!r}: {exc}",
            hint=f"the module must be importable from {root} (the directory of lepton.yaml)",
        ) from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise StepError(f"{module_name!r} has no callable {attr!r} (entrypoint {spec!r})")
    return function  # type: ignore[no-any-return]


def call_user(function: Callable[..., Any], what: str, *args: Any) -> Any:
    """Call user code; its traceback is shown (it is their bug), then a StepError is raised."""
    try:
        return function(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        traceback.print_exc()
        raise StepError(f"{what} raised {type(exc).__name__}: {exc}") from None
