"""The build context: the repository filtered by the rendered .dockerignore, plus the trained
artifact, the optional lepton-ci wheel and the rendered Dockerfile, as one tar stream.

File metadata is normalised (owner root, fixed mtime) so identical inputs give identical
contexts; the Docker layer cache then depends on content only.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from lepton_ci.errors import LeptonError
from lepton_ci.render.docker import WHEELS_DIR

TRAIN_IN_CONTEXT = ".lepton/run/train"
MTIME = 315532800  # 1980-01-01, what wheels use for reproducible archives


def ignore_patterns(dockerignore: str) -> list[str]:
    return [
        line.strip()
        for line in dockerignore.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _info(
    name: str, *, size: int = 0, mode: int = 0o644, directory: bool = False
) -> tarfile.TarInfo:
    item = tarfile.TarInfo(name)
    item.uid = item.gid = 0
    item.uname = item.gname = ""
    item.mtime = MTIME
    if directory:
        item.type, item.mode = tarfile.DIRTYPE, 0o755
    else:
        item.size, item.mode = size, mode
    return item


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    mode = 0o755 if os.access(path, os.X_OK) else 0o644
    with path.open("rb") as handle:
        tar.addfile(_info(name, size=path.stat().st_size, mode=mode), handle)


def _add_tree(tar: tarfile.TarFile, source: Path, prefix: str) -> int:
    count = 0
    tar.addfile(_info(prefix, directory=True))
    for path in sorted(source.rglob("*")):
        name = f"{prefix}/{path.relative_to(source).as_posix()}"
        if path.is_dir():
            tar.addfile(_info(name, directory=True))
        elif path.is_file():
            _add_file(tar, path, name)
            count += 1
    return count


def build_context(
    root: Path,
    *,
    dockerfile: str,
    dockerignore: str,
    model_dir: Path,
    wheel: Path | None = None,
) -> IO[bytes]:
    """A seekable tar of the context (spooled to disk past 64 MiB)."""
    from docker.utils.build import exclude_paths

    root = root.resolve()
    model_dir = model_dir.resolve()
    if not (model_dir / "manifest.json").is_file():
        raise LeptonError(
            f"{model_dir} holds no trained artifact (manifest.json is missing)",
            hint="run `lepton-ci train` first, or fetch the train job's artifacts",
        )
    patterns = ignore_patterns(dockerignore)
    # run outputs never come from the repository walk; they are added explicitly below
    patterns += [".lepton", "Dockerfile", ".dockerignore"]
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned
    with tarfile.open(fileobj=out, mode="w") as tar:
        for rel in sorted(exclude_paths(str(root), patterns)):
            path = root / rel
            if path.is_symlink() or not path.is_file():
                continue
            _add_file(tar, path, Path(rel).as_posix())
        for name, text in (("Dockerfile", dockerfile), (".dockerignore", dockerignore)):
            data = text.encode()
            tar.addfile(_info(name, size=len(data)), io.BytesIO(data))
        tar.addfile(_info(".lepton", directory=True))
        tar.addfile(_info(".lepton/run", directory=True))
        _add_tree(tar, model_dir, TRAIN_IN_CONTEXT)
        tar.addfile(_info(WHEELS_DIR, directory=True))
        if wheel is not None:
            _add_file(tar, wheel, f"{WHEELS_DIR}/{wheel.name}")
    out.seek(0)
    return out
