"""``--param KEY=VALUE`` parsing shared by train and evaluate."""

from __future__ import annotations

from io import StringIO
from typing import Any

import click


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """``("epochs=3", "lr=0.01")`` -> ``{"epochs": 3, "lr": 0.01}``; values are YAML scalars."""
    from ruamel.yaml import YAML

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--param")
        value = YAML(typ="safe").load(StringIO(raw)) if raw.strip() else ""
        out[key.strip()] = value
    return out
