"""Escaping for every target language, and a Jinja environment that insists on it.

Templates must pass every string through one of these filters; a bare string in ``{{ }}``
is an error (see :func:`_finalize`). Each filter returns :class:`Safe`, meaning "already
escaped for where it stands".
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from lepton_ci.resources import template_dir


class Safe(str):
    """Text escaped for its destination."""


class UnescapedValue(Exception):
    """A template printed a string without an escaping filter (a template bug)."""


_GROOVY_ESCAPED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def groovy_str(value: object) -> Safe:
    """A Groovy single-quoted string literal: never interpolates ``$``/``${}``."""
    text = str(value)
    out = (
        text.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\f", "\\f")
        .replace("\b", "\\b")
    )
    # controls, and the breaks str.splitlines() honours (NEL, LS, PS): Jinja's indent filter
    # splits on those, which put a raw line break inside a literal (tests/core/test_fuzz.py)
    out = _GROOVY_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    return Safe(f"'{out}'")


def groovy_list(values: Iterable[object]) -> Safe:
    return Safe("[" + ", ".join(groovy_str(v) for v in values) + "]")


def groovy_bool(value: object) -> Safe:
    """A Groovy boolean literal. Only a real bool: a string such as ``'false'`` is truthy in
    Groovy, which is how the generated pipelines once skipped every stage."""
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a bool")
    return Safe("true" if value else "false")


_GROOVY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def groovy_value(value: object) -> Safe:
    """A Groovy literal for a bool, number, string, list or map (maps via :func:`groovy_map`)."""
    if isinstance(value, bool):
        return groovy_bool(value)
    if isinstance(value, int | float):
        return Safe(repr(value))
    if isinstance(value, Mapping):
        return groovy_map(value)
    if isinstance(value, list | tuple):
        return Safe("[" + ", ".join(groovy_value(v) for v in value) + "]")
    return groovy_str(value)


def groovy_map(entries: Mapping[object, object]) -> Safe:
    """A Groovy map literal, ``[key: value, ...]`` (``[:]`` when empty); None values are left
    out, keys that are no identifier are quoted."""
    items = [
        f"{key if _GROOVY_KEY.match(str(key)) else groovy_str(key)}: {groovy_value(value)}"
        for key, value in entries.items()
        if value is not None
    ]
    return Safe("[" + ", ".join(items) + "]" if items else "[:]")


# Characters YAML parsers disagree on: C1 controls (U+0085 NEL is a line break to Ruby Psych,
# GitLab's parser, and to YAML 1.1), the line and paragraph separators, the byte-order mark.
# Lone surrogates cannot be written as UTF-8 at all, and Psych rejects their \u escapes.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _yaml_json(value: Any) -> str:
    """JSON text (a valid YAML flow scalar) with non-ASCII kept as UTF-8, except the characters
    above, written as ``\\uXXXX`` escapes, which every YAML parser reads the same way."""
    text = json.dumps(value, ensure_ascii=False)
    text = _SURROGATE.sub("\ufffd", text)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def yaml_str(value: object) -> Safe:
    """A YAML double-quoted scalar (JSON strings are valid YAML 1.2 flow scalars)."""
    return Safe(_yaml_json(str(value)))


def yaml_value(value: Any) -> Safe:
    """Any JSON-able value as YAML flow (lists, maps, numbers, booleans, strings)."""
    return Safe(_yaml_json(value))


def gitlab_expr_str(value: object) -> Safe:
    """A string literal inside a GitLab ``rules:if`` expression (double-quoted)."""
    text = str(value)
    if re.search(r'["\\\n\r]', text):
        raise ValueError(f"{text!r} cannot stand in a GitLab rules expression")
    return Safe(f'"{text}"')


def sh_word(value: object) -> Safe:
    """One POSIX shell word."""
    return Safe(shlex.quote(str(value)))


def sh_line(argv: Iterable[object]) -> Safe:
    """A POSIX shell command line from argv."""
    return Safe(shlex.join(str(a) for a in argv))


# Anything some parser takes for the end of a line: C0 and C1 controls (U+0085 NEL), the line
# and paragraph separators, and the byte-order mark.
_LINE_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]+")


def comment(value: object) -> Safe:
    """Text safe inside a one-line comment of any of our languages.

    Groovy 2.4 (the Groovy Jenkins runs) expands ``\\uXXXX`` escapes before lexing, even in
    comments: ``\\u000a`` would end the comment and run the rest of the line. A space after
    each backslash-u keeps the text readable and inert."""
    text = _LINE_BREAKS.sub(" ", str(value))
    return Safe(re.sub(r"\\(?=u)", "\\ ", text).replace("*/", "* /"))


def xml_text(value: object) -> Safe:
    """XML character data or an attribute value (``&<>"'`` escaped, control characters dropped)."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", str(value))
    return Safe(
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def md_text(value: object) -> Safe:
    """Inline Markdown text (a table cell): markup characters and HTML neutralised."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Safe(re.sub(r"([\\`*_{}\[\]()#+!|~])", r"\\\1", text))


_DOCKER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def docker_str(value: object) -> Safe:
    """A double-quoted Dockerfile word (LABEL/ENV values): no variable substitution, one line.

    Dockerfile words expand ``$VAR`` and treat ``\\`` as an escape, even inside double quotes;
    control characters (newlines would end the instruction) become spaces. A trailing
    backslash is dropped: Docker reads ``"x\\\\"`` as ``x\\``, but hadolint's parser
    (language-docker) rejects every quoting of a value that ends in one (tested with docker build
    and hadolint 2.12), and these values are labels, metadata only.
    """
    text = _DOCKER_CONTROL.sub(" ", str(value)).rstrip("\\")
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return Safe(f'"{text}"')


def docker_json(argv: Iterable[object]) -> Safe:
    """An exec-form array (ENTRYPOINT/CMD/HEALTHCHECK): JSON, never run by a shell."""
    return Safe(json.dumps([str(a) for a in argv], ensure_ascii=True))


def sh_words(values: Iterable[object]) -> Safe:
    """Shell words for a shell-form RUN line; a control character would break the Dockerfile."""
    words = []
    for value in values:
        text = str(value)
        if _DOCKER_CONTROL.search(text):
            raise ValueError(f"{text!r} contains a control character")
        words.append(shlex.quote(text))
    return Safe(" ".join(words))


_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")


def ident(value: object) -> Safe:
    """A value the spec constrained to identifier characters; re-checked here."""
    text = str(value)
    if not _IDENT.match(text):
        raise ValueError(f"{text!r} is not an identifier; escape it instead")
    return Safe(text)


FILTERS = {
    "groovy_str": groovy_str,
    "groovy_list": groovy_list,
    "groovy_bool": groovy_bool,
    "groovy_map": groovy_map,
    "yaml_str": yaml_str,
    "yaml_value": yaml_value,
    "gitlab_expr_str": gitlab_expr_str,
    "sh_word": sh_word,
    "sh_line": sh_line,
    "comment": comment,
    "ident": ident,
    "xml_text": xml_text,
    "md_text": md_text,
    "docker_str": docker_str,
    "docker_json": docker_json,
    "sh_words": sh_words,
}


def _finalize(value: Any) -> Any:
    if isinstance(value, Safe) or value is None:
        return value if value is not None else ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        raise UnescapedValue(f"template printed {value[:60]!r} without an escaping filter")
    raise UnescapedValue(f"template printed a {type(value).__name__} without an escaping filter")


_ENV: SandboxedEnvironment | None = None


def environment() -> SandboxedEnvironment:
    """The Jinja environment for every lepton-ci template (sandboxed, strict, escaping)."""
    global _ENV
    if _ENV is None:
        from jinja2 import FileSystemLoader

        env = SandboxedEnvironment(
            loader=FileSystemLoader(str(template_dir())),
            undefined=StrictUndefined,
            finalize=_finalize,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )
        env.filters.update(FILTERS)
        _ENV = env
    return _ENV


def render_template(template_name: str, /, **context: Any) -> str:
    return environment().get_template(template_name).render(**context)
