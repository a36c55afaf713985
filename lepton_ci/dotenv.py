"""dotenv files: how steps hand small values on (GitLab `reports: dotenv`, read by Jenkins too).

Values are plain tokens (versions, image references, digests, URLs), never secrets; a value that
a dotenv reader could misread (spaces, quotes, `$`, backslashes, backticks) is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from lepton_ci.fsutil import atomic_write_text

_UNSAFE = re.compile(r"[\s'\"\\$`]")


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines (``export`` and matching quotes allowed; blank lines, comments and
    lines without ``=`` skipped)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip().removeprefix("export ").strip()] = value
    return values


def format_dotenv(values: dict[str, str]) -> str:
    """One ``KEY=value`` line per item, in order (what :func:`parse_dotenv` reads back)."""
    return "".join(f"{k}={v}\n" for k, v in values.items())


def read_dotenv(path: Path, *, missing_ok: bool = False) -> dict[str, str]:
    """:func:`parse_dotenv` of the file at ``path``.

    A missing file raises FileNotFoundError, or reads as empty with ``missing_ok``.
    """
    if missing_ok and not path.is_file():
        return {}
    return parse_dotenv(path.read_text(encoding="utf-8"))


def write_dotenv(path: Path, values: dict[str, str]) -> None:
    """Write atomically: a reader sees the old file or the complete new one."""
    for key, value in values.items():
        if _UNSAFE.search(value):
            raise ValueError(f"{key} value {value!r} cannot be written to a dotenv file")
    atomic_write_text(path, format_dotenv(values))
