"""At the file descriptor limit `serve` says so once a while and keeps serving.

asyncio logs a traceback for every accept it retries at the limit (CPython 3.11's
``_accept_connection`` tries up to the listen backlog each time): 300 idle connections at
``ulimit -n 256`` wrote 13 MB of log in 20 s. The soft limit is also raised to the hard one.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from lepton_ci.netutil import free_port
from lepton_ci.serve import fdlimit
from lepton_ci.serve.fdlimit import ACCEPT_EXHAUSTED, QuietAcceptErrors

LIMIT = 128
SERVE = (sys.executable, "-m", "lepton_ci", "serve")


def serve(model: Path, port: int, log: Path, soft: int, hard: int) -> subprocess.Popen[bytes]:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    with log.open("wb") as out:
        return subprocess.Popen(
            [*SERVE, "--model-dir", str(model), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=limited,
            start_new_session=True,
        )


def ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"serve did not become ready (exit {proc.poll()})")


def test_more_idle_connections_than_descriptors_cost_one_log_line_not_a_flood(
    tiny_model: Path, stop: Any, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    proc = serve(tiny_model, port, log, LIMIT, LIMIT)
    stop(proc)
    ready(port, proc)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(LIMIT + 30)]
    try:
        time.sleep(3)  # asyncio retries the accept while the limit holds
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=20)
    finally:
        for sock in idle:
            sock.close()
    assert answer.status_code == 200  # served once the idle ones hit their 5 s deadline
    text = log.read_text()
    assert ACCEPT_EXHAUSTED not in text and "Traceback" not in text, text[-2000:]
    assert 1 <= text.count(f"out of file descriptors (limit {LIMIT})") <= 2
    assert len(text) < 10_000


def test_the_soft_limit_is_raised_to_the_hard_one(
    tiny_model: Path, stop: Any, tmp_path: Path
) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = fdlimit.WANTED if hard == resource.RLIM_INFINITY else hard
    port, log = free_port(), tmp_path / "serve.log"
    proc = serve(tiny_model, port, log, LIMIT, hard)
    stop(proc)
    ready(port, proc)
    assert f"file descriptors: soft limit raised from {LIMIT} to {wanted}" in log.read_text()


class Loop:
    def __init__(self) -> None:
        self.passed_on: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.passed_on.append(context)


def test_exhaustion_is_said_once_per_interval_with_its_count(capsys: Any) -> None:
    now = [0.0]
    handler, loop = QuietAcceptErrors(interval=10, clock=lambda: now[0]), Loop()
    for second in range(25):
        now[0] = float(second)
        for _ in range(100):  # asyncio's retries within one second
            handler(loop, {"message": ACCEPT_EXHAUSTED})  # type: ignore[arg-type]
    lines = [line for line in capsys.readouterr().err.splitlines() if "descriptors" in line]
    assert [line.split(": ", 1)[1].split(" accept")[0] for line in lines] == [
        "1",
        "1000",
        "1000",
    ]
    assert loop.passed_on == []


def test_any_other_loop_error_is_handled_as_asyncio_would() -> None:
    loop, context = Loop(), {"message": "Task exception was never retrieved"}
    QuietAcceptErrors()(loop, context)  # type: ignore[arg-type]
    assert loop.passed_on == [context]
