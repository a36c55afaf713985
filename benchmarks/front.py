"""Front benchmark: what the deploy front costs on loopback, against the version direct.

A version (uvicorn's h11 protocol, as ``serve`` runs, with an app that reads the body and answers
its length) and the front run as processes; keep-alive clients in this process send, for a few
seconds each:

- small: ``POST`` of 1 KiB, requests per second over ``--clients`` connections;
- large: ``POST`` of 16 MiB, MiB per second over one connection.

Each front given with ``--front`` (a module, or a file run as a script, e.g. an older
``proxy.py``) is measured in the same run, after the version direct. Run:
``.venv/bin/python benchmarks/front.py [--front lepton_ci.deploy.proxy --front old_proxy.py]``.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lepton_ci.deploy.switch import front_status  # noqa: E402
from lepton_ci.netutil import free_port  # noqa: E402

SMALL = b"x" * 1024
LARGE = b"x" * (16 * 1024 * 1024)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    length, more = 0, True
    while more:
        message = await receive()
        length += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"%d" % length
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def start(argv: list[str], ready: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection(ready.removeprefix("http://"), timeout=1)
            conn.request("GET", "/-/lepton-front")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{argv} never answered")


def rate(port: int, body: bytes, clients: int, seconds: float) -> float:
    """Requests per second over ``clients`` keep-alive connections."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def one(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            conn.request("POST", "/predict", body=body)
            response = conn.getresponse()
            assert response.status == 200 and int(response.read()) == len(body)
            counts[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def front_argv(front: str, port: int, upstream_file: Path) -> list[str]:
    run = [sys.executable, front] if front.endswith(".py") else [sys.executable, "-m", front]
    return [*run, "--listen", f"127.0.0.1:{port}", "--upstream-file", str(upstream_file)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--front", action="append", help="module or .py file (repeatable)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--version-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.version_port:  # the version process
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=args.version_port, http="h11", log_level="error")
        return
    version_port = free_port()
    version_argv = [sys.executable, __file__, "--version-port", str(version_port)]
    version = start(version_argv, f"http://127.0.0.1:{version_port}")
    rows: list[tuple[str, float, float]] = []
    try:
        targets = [("direct", version_port, None)]
        for front in args.front or ["lepton_ci.deploy.proxy"]:
            targets.append((front, free_port(), front))
        with tempfile.TemporaryDirectory(prefix="lepton-bench-front-") as tmp:
            upstream_file = Path(tmp) / "upstream"
            upstream_file.write_text(f"1 127.0.0.1:{version_port} end\n")
            for name, port, front in targets:
                proc = None
                if front is not None:
                    proc = start(front_argv(front, port, upstream_file), f"http://127.0.0.1:{port}")
                    assert (front_status(f"http://127.0.0.1:{port}") or {}).get("upstream")
                try:
                    small = rate(port, SMALL, args.clients, args.seconds)
                    large = rate(port, LARGE, 1, args.seconds) * len(LARGE) / 2**20
                    rows.append((name, small, large))
                finally:
                    if proc is not None:
                        proc.terminate()
                        proc.wait(10)
    finally:
        version.terminate()
        version.wait(10)
    print(f"{'target':40} {'1 KiB POST req/s':>17} {'16 MiB POST MiB/s':>18}")
    for name, small, large in rows:
        print(f"{name:40} {small:17.0f} {large:18.0f}")


if __name__ == "__main__":
    main()
