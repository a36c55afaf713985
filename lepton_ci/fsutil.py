"""Atomic file and directory operations: a reader never sees half a file or half an artifact."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename; an existing file keeps its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_all_or_nothing(writes: dict[Path, str]) -> None:
    """Write every file or none: each is first written in full to a temporary sibling, and only
    when all of them exist are they renamed into place. Raises OSError naming the blocked path;
    nothing has been replaced then."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in writes.items():
            if path.is_dir():
                raise IsADirectoryError(21, "a directory is in the way", str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((Path(name), path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        os.replace(temporary, target)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def remove_tree(path: Path) -> None:
    """Remove a directory by renaming it out of the way first, so it vanishes at once."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}.trash-{uuid.uuid4().hex[:8]}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def replace_tree(staged: Path, target: Path) -> None:
    """Move a fully written directory into place (rename; the old one is removed first)."""
    remove_tree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)


def copy_tree_atomic(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` via a temporary sibling; False if ``target`` appeared
    meanwhile (another process won the race; its copy is equally complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    shutil.copytree(source, tmp)
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.exists():
            return False
        raise
    return True
