"""What a ``.gitlab-ci.yml`` runs: every job's shell lines, resolved as GitLab resolves them.

``gitlab_commands`` merges our own includes (components and the include template, read from
``gitlab/``) with their inputs substituted, applies ``extends``, ``!reference`` and
``default:``, and lists each job's ``before_script`` + ``script`` lines in stage order. Parity
tests compare that with the pipeline model; the gitlab-ci-local tests check this resolver
against gitlab-ci-local's own ``--preview``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GLOBAL_KEYWORDS = {
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
    "pages",
}
ENVIRONMENT_LINE = re.compile(r"^export [A-Za-z_][A-Za-z0-9_]*=")
"""Lines that set up the environment (GitLab's `withEnv`), not commands of the model."""

COMPONENT = re.compile(r"^(?P<host>[^/]+)/(?P<project>.+)/(?P<name>[^/@]+)@(?P<version>.+)$")
INPUT = re.compile(r"\$\[\[\s*inputs\.(?P<name>[\w-]+)\s*\]\]")


@dataclass(frozen=True)
class Reference:
    path: tuple[str, ...]


class _Loader(yaml.SafeLoader):
    pass


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> Reference:
    return Reference(tuple(loader.construct_sequence(node)))  # type: ignore[arg-type]


_Loader.add_constructor("!reference", _reference)


class ResolveError(Exception):
    """The configuration cannot be resolved the way GitLab would (it would reject it too)."""


def load_documents(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_Loader))  # a SafeLoader plus !reference


def gitlab_commands(yaml_text: str, *, library_root: Path | None = None) -> list[tuple[str, str]]:
    """(job name, shell line) for every command line of every job, in stage order."""
    config = resolve(yaml_text, library_root=library_root)
    out: list[tuple[str, str]] = []
    for name, job in jobs_in_order(config):
        for line in [*_lines(job.get("before_script")), *_lines(job.get("script"))]:
            if not ENVIRONMENT_LINE.match(line):
                out.append((name, line))
    return out


def jobs_in_order(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    stages = ["build", "test", "deploy"] if "stages" not in config else list(config["stages"])
    stages = [".pre", *stages, ".post"]
    jobs = [
        (name, value)
        for name, value in config.items()
        if name not in GLOBAL_KEYWORDS and not name.startswith(".") and isinstance(value, dict)
    ]
    for name, job in jobs:
        if job.get("stage", "test") not in stages:
            raise ResolveError(f"job {name!r}: stage {job.get('stage')!r} is not in `stages:`")
    return sorted(jobs, key=lambda item: stages.index(item[1].get("stage", "test")))


def resolve(yaml_text: str, *, library_root: Path | None = None) -> dict[str, Any]:
    """The merged configuration: includes, extends, !reference and default: applied."""
    docs = load_documents(yaml_text)
    main = docs[-1] if docs else {}
    merged: dict[str, Any] = {}
    for include in _includes(main.get("include")):
        merged = deep_merge(merged, _load_include(include, library_root))
    config = deep_merge(merged, {k: v for k, v in main.items() if k != "include"})
    resolved: dict[str, Any] = {}
    for name, value in config.items():
        if name in GLOBAL_KEYWORDS or not isinstance(value, dict):
            resolved[name] = value
        else:
            resolved[name] = _extend(name, config, ())
    resolved = _references(resolved, resolved)
    default = resolved.get("default") or {}
    for name, job in resolved.items():
        if name in GLOBAL_KEYWORDS or name.startswith(".") or not isinstance(job, dict):
            continue
        for key, value in default.items():
            job.setdefault(key, copy.deepcopy(value))
    return resolved


def _includes(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [{"local": item} if isinstance(item, str) else item for item in items]


def _load_include(include: dict[str, Any], library_root: Path | None) -> dict[str, Any]:
    if library_root is None:
        raise ResolveError(f"include {include!r} needs library_root (our gitlab/ folder)")
    if "component" in include:
        match = COMPONENT.match(include["component"])
        if not match:
            raise ResolveError(f"cannot read component reference {include['component']!r}")
        name = match["name"]
        candidates = [
            library_root / "templates" / f"{name}.yml",
            library_root / "templates" / name / "template.yml",
        ]
    elif "project" in include:
        files = include["file"] if isinstance(include["file"], list) else [include["file"]]
        if len(files) != 1:
            raise ResolveError("one file per project include, please")
        candidates = [library_root / files[0].lstrip("/")]
    else:
        raise ResolveError(f"include {include!r} is not ours (component or project)")
    for path in candidates:
        if path.is_file():
            return interpolate_file(path.read_text(encoding="utf-8"), include.get("inputs") or {})
    raise ResolveError(f"none of {[str(p) for p in candidates]} exists")


def interpolate_file(text: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A file with a ``spec:`` header, its ``$[[ inputs.x ]]`` replaced as GitLab does."""
    docs = load_documents(text)
    if len(docs) == 1:
        if inputs:
            raise ResolveError("inputs given to a file without a spec: header")
        return docs[0] or {}
    header, body = docs[0], docs[1]
    spec_inputs: dict[str, Any] = (header.get("spec") or {}).get("inputs") or {}
    unknown = set(inputs) - set(spec_inputs)
    if unknown:
        raise ResolveError(f"unknown inputs {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, decl in spec_inputs.items():
        decl = decl or {}
        if name in inputs:
            value = inputs[name]
        elif "default" in decl:
            value = decl["default"]
        else:
            raise ResolveError(f"input {name!r} is required")
        kind = decl.get("type", "string")
        expected = {"string": str, "number": (int, float), "boolean": bool, "array": list}[kind]
        if not isinstance(value, expected) or (kind == "number" and isinstance(value, bool)):
            raise ResolveError(f"input {name!r} must be a {kind}, got {value!r}")
        if "options" in decl and value not in decl["options"]:
            raise ResolveError(f"input {name!r}: {value!r} is not one of {decl['options']}")
        if "regex" in decl and not re.search(decl["regex"], str(value)):
            raise ResolveError(f"input {name!r}: {value!r} does not match {decl['regex']}")
        values[name] = value
    return _interpolate(body, values)  # type: ignore[no-any-return]


def _interpolate(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {_interpolate(k, values): _interpolate(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(item, values) for item in node]
    if isinstance(node, str):
        whole = INPUT.fullmatch(node.strip())
        if whole:
            return copy.deepcopy(_value(whole["name"], values))
        return INPUT.sub(lambda m: _text(_value(m["name"], values)), node)
    return node


def _value(name: str, values: dict[str, Any]) -> Any:
    if name not in values:
        raise ResolveError(f"unknown interpolation key inputs.{name}")
    return values[name]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """GitLab's merge for includes and extends: hashes merge, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _extend(name: str, config: dict[str, Any], chain: tuple[str, ...]) -> dict[str, Any]:
    if name in chain:
        raise ResolveError(f"circular extends: {' -> '.join((*chain, name))}")
    if name not in config:
        raise ResolveError(f"{chain[-1] if chain else '?'} extends unknown job {name!r}")
    job = config[name]
    parents = job.get("extends", [])
    parents = [parents] if isinstance(parents, str) else list(parents)
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = deep_merge(merged, _extend(parent, config, (*chain, name)))
    merged = deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return merged


def _references(node: Any, config: dict[str, Any]) -> Any:
    if isinstance(node, Reference):
        value: Any = config
        for part in node.path:
            if not isinstance(value, dict) or part not in value:
                raise ResolveError(f"!reference {list(node.path)} does not exist")
            value = value[part]
        return _references(copy.deepcopy(value), config)
    if isinstance(node, dict):
        return {k: _references(v, config) for k, v in node.items()}
    if isinstance(node, list):
        return [_references(item, config) for item in node]
    return node


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    for item in value:
        out.extend(_lines(item))  # GitLab flattens nested lists (from !reference)
    return out
