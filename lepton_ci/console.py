"""Output for people and for CI logs.

On a TTY: plain messages and progress bars. Elsewhere (CI logs, pipes): one timestamped line per
event, and progress as periodic timestamped lines instead of a bar. Nothing here prints secrets:
callers pass only what may be shown.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TextIO, TypeVar

T = TypeVar("T")


def interactive(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return stream.isatty() and not os.environ.get("CI")


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def info(message: str, *, step: str | None = None, stream: TextIO | None = None) -> None:
    """One line: plain on a TTY, ``<UTC time> [step] message`` in CI logs."""
    stream = stream or sys.stderr
    prefix = f"[{step}] " if step else ""
    if interactive(stream):
        print(f"{prefix}{message}", file=stream, flush=True)
    else:
        print(f"{stamp()} {prefix}{message}", file=stream, flush=True)


def progress(
    items: Iterable[T],
    *,
    total: int | None = None,
    desc: str,
    step: str | None = None,
    every_seconds: float = 10.0,
) -> Iterator[T]:
    """A tqdm bar on a TTY (when tqdm is installed); periodic timestamped lines otherwise."""
    if interactive():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            yield from tqdm(items, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)
            return
    last = time.monotonic()
    count = 0
    for item in items:
        yield item
        count += 1
        now = time.monotonic()
        if now - last >= every_seconds:
            info(f"{desc}: {count}{'/' + str(total) if total else ''}", step=step)
            last = now
    info(f"{desc}: {count}{'/' + str(total) if total else ''} done", step=step)
