"""The lepton.yaml field reference as Markdown, generated from the model.

python -m lepton_ci.spec.reference > docs/spec-reference.md
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lepton_ci.spec.loader import MAX_SPEC_BYTES, MAX_SPEC_VALUES
from lepton_ci.spec.model import PATTERN_HELP, Spec


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " \\| ".join(_type_name(a) for a in rest) + " (optional)"
    if args:
        return " \\| ".join(_type_name(a) for a in args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _pattern(info: FieldInfo) -> str | None:
    for meta in info.metadata:
        pattern = getattr(meta, "pattern", None)
        if pattern:
            return str(pattern)
    annotation = info.annotation
    for arg in typing.get_args(annotation) or ():
        for meta in getattr(arg, "__metadata__", ()) or ():
            for inner in getattr(meta, "metadata", [meta]):
                pattern = getattr(inner, "pattern", None)
                if pattern:
                    return str(pattern)
    return None


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return "" if isinstance(value, BaseModel) else f"`{value!r}`"
    if info.default is PydanticUndefined or info.default is None:
        return ""
    return f"`{info.default!r}`"


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def reference_markdown() -> str:
    lines = [
        "# lepton.yaml field reference",
        "",
        "Generated from `lepton_ci/spec/model.py` by `python -m lepton_ci.spec.reference`;",
        "a test keeps it in sync. Unknown keys are errors. A spec file is at most",
        f"{MAX_SPEC_BYTES // 1024} KiB, and its YAML aliases (`*name`) may expand it to at most",
        f"{MAX_SPEC_VALUES} values: larger files are refused before they are validated.",
        "",
        "| field | type | default | description |",
        "|---|---|---|---|",
    ]

    def walk(model: type[BaseModel], prefix: str, seen: set[type[BaseModel]]) -> None:
        for name, info in model.model_fields.items():
            key = info.alias or name
            path = f"{prefix}{key}"
            desc = (info.description or "").replace("|", "\\|")
            pattern = _pattern(info)
            if pattern and pattern in PATTERN_HELP:
                desc = (desc + " " if desc else "") + f"Must be {PATTERN_HELP[pattern]}."
            lines.append(
                f"| `{path}` | {_type_name(info.annotation)} | {_default(info)} | {desc} |"
            )
            for sub in _models(info.annotation):
                if sub not in seen:
                    is_list = typing.get_origin(info.annotation) is list
                    walk(sub, f"{path}[]." if is_list else f"{path}.", seen | {sub})

    walk(Spec, "", {Spec})
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
