"""Load ``lepton.yaml`` into a :class:`Spec`, turning every problem into a located message.

YAML is read with ruamel.yaml so each key keeps its line and column; pydantic's errors are
mapped back onto those positions, unknown keys get a "did you mean" hint, pattern errors say in
words what is allowed. Nothing here raises anything but :class:`SpecError`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.reader import ReaderError

from lepton_ci.errors import Problem, SpecError
from lepton_ci.spec.model import PATTERN_HELP, Spec

SPEC_FILENAME = "lepton.yaml"
MAX_SPEC_BYTES = 1 << 20
"""A spec is a page of settings; a larger file is a mistake (or an attack), refused unread."""
MAX_SPEC_VALUES = 100_000
"""Values the spec may hold once YAML aliases (``*name``) are expanded: a kilobyte of nested
aliases (the "billion laughs") would otherwise expand to millions while it is validated."""


def load_spec(path: str | Path = SPEC_FILENAME) -> Spec:
    """Read and validate a spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            path,
            [Problem("file not found", hint="run `lepton-ci init` to write one")],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, [Problem(f"cannot read file: {exc}")]) from None
    return parse_spec(text, path)


def parse_spec(text: str, file: str | Path | None = None) -> Spec:
    """Validate spec text; ``file`` only names the source in messages."""
    data = _read_yaml(text, file)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(file, [Problem(f"the spec must be a mapping of keys, not {kind}", line=1)])
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(file, [_problem(err, data) for err in exc.errors()]) from None


def _read_yaml(text: str, file: str | Path | None) -> Any:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        message = f"the spec is {size} bytes; at most {MAX_SPEC_BYTES} are read"
        raise SpecError(file, [Problem(message, line=1)])
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        _check_expansion(yaml.compose(text), file)
        return yaml.load(text)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(file, [Problem("invalid YAML: nested too deeply", line=1)]) from None
    except ReaderError as exc:  # a character YAML does not allow, found before any token
        raise SpecError(file, [_forbidden_character(exc, text)]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise SpecError(
            file, [Problem(f"invalid YAML: {what}", line=line, column=column)]
        ) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad tags)
        raise SpecError(file, [Problem(f"invalid YAML: {exc}")]) from None


def _forbidden_character(exc: ReaderError, text: str) -> Problem:
    """The problem of a character YAML forbids (a control character), at its line and column."""
    before = text[: exc.position]
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return Problem(
        f"invalid YAML: character U+{code:04X} is not allowed in YAML",
        line=before.count("\n") + 1,
        column=exc.position - (before.rfind("\n") + 1) + 1,
        hint=f'write it as the escape "\\u{code:04X}" inside a double-quoted string',
    )


def _check_expansion(root: Node | None, file: str | Path | None) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_SPEC_VALUES` values."""
    sizes: dict[int, int] = {}
    reused: list[Node] = []

    def expanded(node: Node) -> int:
        if id(node) in sizes:
            reused.append(node)
            return sizes[id(node)]
        sizes[id(node)] = 1  # a recursive alias counts once
        if isinstance(node, MappingNode):
            total = 1 + sum(expanded(k) + expanded(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            total = 1 + sum(expanded(item) for item in node.value)
        else:
            total = 1
        sizes[id(node)] = total
        return total

    if root is None or expanded(root) <= MAX_SPEC_VALUES:
        return
    anchor = max(reused, key=lambda node: sizes[id(node)])
    raise SpecError(
        file,
        [
            Problem(
                f"the aliases of &{anchor.anchor} expand the spec beyond {MAX_SPEC_VALUES} values",
                line=anchor.start_mark.line + 1,
                column=anchor.start_mark.column + 1,
                hint="write the values out, or use fewer nested aliases",
            )
        ],
    )


def _problem(err: Any, data: Any) -> Problem:
    loc = tuple(err["loc"])
    path, _node, key_pos, value_pos = _locate(data, loc)
    kind = err["type"]
    value = err.get("input")
    hint = None
    if kind == "extra_forbidden":
        allowed = sorted(_allowed_keys(Spec, path[:-1]))
        message = f"unknown key {path[-1]!r}; allowed keys: {', '.join(allowed)}"
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else None
        line, column = key_pos or value_pos or (None, None)
    elif kind == "missing":
        message = "required field is missing"
        line, column = value_pos or (None, None)
    else:
        message = _describe(err)
        if not isinstance(value, dict | list) and err["type"] != "value_error":
            message += f" (got {_show(value)})"
        line, column = value_pos or key_pos or (None, None)
    return Problem(message, path=path, line=line, column=column, hint=hint)


def _describe(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        return f"must be {PATTERN_HELP.get(pattern, 'text matching ' + pattern)}"
    if err["type"] == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if err["type"] == "value_error":
        return str(ctx.get("error", err["msg"]))
    msg: str = err["msg"]
    return msg[0].lower() + msg[1:] if msg else "invalid value"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


Position = tuple[int, int] | None


def _locate(
    data: Any, loc: tuple[Any, ...]
) -> tuple[tuple[str | int, ...], Any, Position, Position]:
    """Follow a pydantic location through the YAML tree: (path, node, key pos, value pos)."""
    node = data
    path: list[str | int] = []
    key_pos: Position = None
    value_pos: Position = _pos(getattr(node, "lc", None) and (node.lc.line, node.lc.col))
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            key_pos = _pos(node.lc.key(part))
            value_pos = _pos(node.lc.value(part))
            node = node[part]
            path.append(part)
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            value_pos = _pos(node.lc.item(part))
            key_pos = None
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and part in _allowed_keys(Spec, path):
            path.append(part)  # a required key the mapping lacks
        # else: a union or discriminator tag pydantic adds: not part of the document
    return tuple(path), node, key_pos, value_pos


def _pos(pair: Any) -> Position:
    if not pair or pair[0] is None:
        return None
    line, col = pair
    return (int(line) + 1, int(col) + 1)


def _allowed_keys(model: type[BaseModel], path: Iterable[str | int]) -> set[str]:
    """Field names (aliases first) accepted at ``path`` below ``model``."""
    models: list[type[BaseModel]] = [model]
    for part in path:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for m in models:
            for name, info in m.model_fields.items():
                if part in (name, info.alias):
                    nxt.extend(_models_in(info.annotation))
        models = nxt or models
    keys: set[str] = set()
    for m in models:
        for name, info in m.model_fields.items():
            keys.add(info.alias or name)
    return keys


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return [m for arg in args for m in _models_in(arg)]
    return []
