"""Content hashes: files, data sets, sources, and the step cache key."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
SKIP_DIRS = {".git", ".lepton", ".venv", "venv", "__pycache__", ".pytest_cache", "node_modules"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not _skipped(p.relative_to(path)))


def _skipped(rel: Path) -> bool:
    return any(part in SKIP_DIRS for part in rel.parts[:-1])


def file_digests(root: Path, paths: Iterable[Path]) -> dict[str, str]:
    """``{relative path: content sha256}`` of every file under ``paths``, in order."""
    table: dict[str, str] = {}
    for path in paths:
        for file in _files_under(path):
            rel = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
            table[rel] = sha256_file(file)
    return table


def digest_of(table: dict[str, str]) -> str:
    """``sha256:<hex>`` over the (relative path, content sha256) lines of a file table."""
    digest = hashlib.sha256()
    for rel, sha in table.items():
        digest.update(f"{rel}\0{sha}\n".encode())
    return "sha256:" + digest.hexdigest()


def tree_hash(root: Path, paths: Iterable[Path]) -> str:
    """``sha256:<hex>`` over (relative path, content sha256) of every file under ``paths``."""
    return digest_of(file_digests(root, paths))


def data_hash(root: Path, data: Iterable[str]) -> str:
    """Hash of the training data paths (files or directories, relative to ``root``)."""
    return digest_of(data_digests(root, data))


def data_digests(root: Path, data: Iterable[str]) -> dict[str, str]:
    """The file table of the data paths; a missing path is a :class:`StepError`."""
    paths = []
    for item in data:
        path = (root / item).resolve()
        if not path.exists():
            from lepton_ci.errors import StepError

            raise StepError(
                f"training data {item!r} does not exist (looked in {root})",
                hint="fix `train.data` in lepton.yaml or fetch the data before this step",
            )
        paths.append(path)
    return file_digests(root.resolve(), paths)


def git_files(root: Path) -> tuple[list[Path], list[Path]] | None:
    """``(tracked, untracked)`` files under ``root`` (untracked: new and not ignored), from one
    ``git ls-files -t`` call, or None when ``root`` is not in a git work tree."""
    try:
        out = subprocess.run(
            [
                "git",
                "ls-files",
                "-z",
                "-t",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                ".",
            ],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    tracked: set[Path] = set()
    untracked: set[Path] = set()
    for entry in out.decode().split("\0"):
        tag, _, name = entry.partition(" ")
        if not name:
            continue
        file = root / name
        if file.is_file() and not _skipped(file.relative_to(root)):
            (untracked if tag == "?" else tracked).add(file)
    return sorted(tracked), sorted(untracked - tracked)


def files_matching(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files under ``root`` matching any glob (outside git), never under :data:`SKIP_DIRS`."""
    found = {p for pattern in patterns for p in root.rglob(pattern) if p.is_file()}
    return sorted(p for p in found if not _skipped(p.relative_to(root)))


def cache_key(**parts: Any) -> str:
    """A stable key over JSON-serialisable parts (sorted keys)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
