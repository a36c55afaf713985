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


def tree_hash(root: Path, paths: Iterable[Path]) -> str:
    """``sha256:<hex>`` over (relative path, content sha256) of every file under ``paths``."""
    digest = hashlib.sha256()
    for path in paths:
        for file in _files_under(path):
            rel = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
            digest.update(f"{rel}\0{sha256_file(file)}\n".encode())
    return "sha256:" + digest.hexdigest()


def data_hash(root: Path, data: Iterable[str]) -> str:
    """Hash of the training data paths (files or directories, relative to ``root``)."""
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
    return tree_hash(root.resolve(), paths)


def source_files(root: Path) -> list[Path]:
    """Files that make up the code: tracked and untracked-but-not-ignored files when ``root``
    is in a git work tree, else every ``*.py`` and ``*.yaml``/``*.yml`` file under it."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None:
        files = [root / name for name in out.decode().split("\0") if name]
        return sorted(f for f in files if f.is_file() and not _skipped(f.relative_to(root)))
    patterns = ("*.py", "*.yaml", "*.yml")
    found = {p for pattern in patterns for p in root.rglob(pattern) if p.is_file()}
    return sorted(p for p in found if not _skipped(p.relative_to(root)))


def source_hash(root: Path) -> str:
    root = root.resolve()
    return tree_hash(root, source_files(root))


def cache_key(**parts: Any) -> str:
    """A stable key over JSON-serialisable parts (sorted keys)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
