"""What a step reads, for its cache key: the source rule, named inputs, and what changed.

A step's inputs are named (``sources``, ``data``, ``params``, ...). File-set inputs carry a file
table (``{path: sha256}``) and its digest; the others are plain JSON values. The cache key covers
the digests and values only; the tables let a miss name the files that changed, as
``dvc status`` does. The source rule is documented in docs/steps.md ("What a step's key covers").
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lepton_ci.fsutil import atomic_write_json
from lepton_ci.runtime.hashing import cache_key, digest_of, file_digests, files_matching, git_files

#: files lepton-ci generates into a repository: what a pipeline runs, never what a step reads
GENERATED = frozenset({"Jenkinsfile", ".gitlab-ci.yml"})
#: outside a git work tree, these globs are the sources
FALLBACK_GLOBS = ("*.py", "*.yaml", "*.yml")
LIST_AT_MOST = 5


@dataclass(frozen=True)
class FileSet:
    """A file-set input: its table and digest."""

    files: dict[str, str]

    @property
    def digest(self) -> str:
        return digest_of(self.files)


Inputs = dict[str, Any]  # name -> FileSet | JSON value


@dataclass(frozen=True)
class SourceRule:
    """Which files of the repository are a step's code.

    Tracked files (content read from the working tree), plus untracked-but-not-ignored files
    that are code: ``*.py`` files, files in the entrypoint's top-level package directory, files
    the command names. Outside git: every ``*.py``/``*.yaml``/``*.yml`` file plus those. Never:
    ``excluded`` paths (the run directory, the spec, declared data, outputs), files matching an
    ``exclude`` glob, or the CI files lepton-ci generates.
    """

    root: Path
    entrypoint: str | None = None
    command: str | None = None
    excluded: tuple[Path, ...] = ()
    exclude: tuple[str, ...] = ()

    def files(self) -> list[Path]:
        root = self.root
        listed = git_files(root)
        if listed is None:
            candidates = files_matching(root, FALLBACK_GLOBS)
            extra = [f for d in self._code_dirs() for f in files_matching(d, ("*",))]
            chosen = set(candidates) | set(extra)
        else:
            tracked, untracked = listed
            chosen = set(tracked) | {f for f in untracked if self._is_code(f)}
        chosen |= {f for f in self._named() if f.is_file()}
        return sorted(f for f in chosen if not self._left_out(f))

    def digests(self) -> FileSet:
        return FileSet(file_digests(self.root, self.files()))

    def _code_dirs(self) -> list[Path]:
        if not self.entrypoint:
            return []
        top = self.root / self.entrypoint.split(":")[0].split(".")[0]
        return [top] if top.is_dir() else []

    def _named(self) -> list[Path]:
        if not self.command:
            return []
        try:
            words = shlex.split(self.command)
        except ValueError:
            words = self.command.split()
        named = [self.root / w for w in words if not w.startswith("-") and "=" not in w]
        return [f for f in named if f.resolve().is_relative_to(self.root)]

    def _is_code(self, file: Path) -> bool:
        if file.suffix == ".py":
            return True
        if any(file.is_relative_to(d) for d in self._code_dirs()):
            return True
        return file in self._named()

    def _left_out(self, file: Path) -> bool:
        rel = file.relative_to(self.root)
        if rel.as_posix() in GENERATED:
            return True
        if any(file == e or file.is_relative_to(e) for e in self.excluded):
            return True
        names = [rel.as_posix(), *(p.as_posix() for p in rel.parents if p != Path("."))]
        return any(fnmatch.fnmatch(name, g.rstrip("/")) for g in self.exclude for name in names)


def key_of(inputs: Mapping[str, Any]) -> str:
    """The cache key: digests of the file sets, the other values as they are."""
    return cache_key(**{k: v.digest if isinstance(v, FileSet) else v for k, v in inputs.items()})


def summary(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The compact per-input record for a manifest: digests and values, no file tables."""
    return {k: v.digest if isinstance(v, FileSet) else v for k, v in inputs.items()}


def to_json(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: {"digest": v.digest, "files": v.files} if isinstance(v, FileSet) else {"value": v}
        for k, v in inputs.items()
    }


def from_json(record: Mapping[str, Any]) -> Inputs:
    out: Inputs = {}
    for name, item in record.items():
        out[name] = FileSet(dict(item["files"])) if "files" in item else item.get("value")
    return out


# the last inputs of a step, to say what changed on a miss ---------------------------------------


def record_path(cache_dir: Path, step: str, model: str) -> Path:
    return cache_dir / "inputs" / f"{step}-{model}.json"


def remember(cache_dir: Path, step: str, model: str, inputs: Mapping[str, Any]) -> None:
    """Keep these inputs as the step's latest (best effort: a read-only cache is fine)."""
    with contextlib.suppress(OSError):
        atomic_write_json(record_path(cache_dir, step, model), to_json(inputs))


def recall(cache_dir: Path, step: str, model: str) -> Inputs | None:
    try:
        return from_json(json.loads(record_path(cache_dir, step, model).read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def changes(before: Mapping[str, Any] | None, now: Mapping[str, Any]) -> str:
    """``data changed (data/train.csv); sources, params, seed unchanged`` — or why unknown."""
    if before is None:
        return "no earlier run of this step to compare with"
    changed, same = [], []
    for name, value in now.items():
        old = before.get(name)
        detail = _difference(old, value)
        if detail is None:
            same.append(name)
        else:
            changed.append(f"{name} changed ({detail})" if detail else f"{name} changed")
    if not changed:
        return "inputs unchanged (a cache entry was removed or stored elsewhere)"
    tail = f"; {', '.join(same)} unchanged" if same else ""
    return "; ".join(changed) + tail


def _difference(old: Any, new: Any) -> str | None:
    if isinstance(new, FileSet):
        if isinstance(old, FileSet) and old.digest == new.digest:
            return None
        before = old.files if isinstance(old, FileSet) else {}
        names = [n for n, sha in new.files.items() if before.get(n) != sha and n in before]
        names += [f"+{n}" for n in new.files if n not in before]
        names += [f"-{n}" for n in before if n not in new.files]
        return _listed(names)
    if old == new:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        return _listed([f"{k}: {_show(old.get(k))} -> {_show(new.get(k))}" for k in keys])
    return f"{_show(old)} -> {_show(new)}"


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:LIST_AT_MOST])
    return shown + (f", +{len(items) - LIST_AT_MOST} more" if len(items) > LIST_AT_MOST else "")
