"""The front proxy: per-request routing, switching without failed requests, draining."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lepton_ci.deploy.switch import front_status
from lepton_ci.netutil import free_port


def backend(name: str, delay: float = 0.0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(delay)
            body = json.dumps({"backend": name, "echo": payload}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", name.encode()):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def front(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    upstream = tmp_path / "upstream"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lepton_ci.deploy.proxy",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream-file",
            str(upstream),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if front_status(url) is not None:
            break
        time.sleep(0.05)
    yield url, upstream
    proc.terminate()
    proc.wait(10)


def point(upstream: Path, server: ThreadingHTTPServer, url: str) -> None:
    generation = str(time.time_ns())
    upstream.write_text(f"{generation} 127.0.0.1:{server.server_address[1]} end\n")
    for _ in range(200):
        if (front_status(url) or {}).get("generation") == generation:
            return
        time.sleep(0.02)
    raise AssertionError("front did not pick up the new upstream")


def ask(conn: http.client.HTTPConnection, n: int) -> str:
    conn.request(
        "POST",
        "/predict",
        body=json.dumps({"inputs": [n]}),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    data = json.loads(resp.read())
    assert resp.status == 200 and data["echo"] == {"inputs": [n]}
    return str(data["backend"])


def test_without_upstream_the_front_answers_503(front: tuple[str, Path]) -> None:
    url, _ = front
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    conn.request("POST", "/predict", body=b"{}")
    assert conn.getresponse().status == 503


def test_keep_alive_clients_follow_a_switch_on_their_next_request(front: tuple[str, Path]) -> None:
    url, upstream = front
    blue, green = backend("blue"), backend("green")
    point(upstream, blue, url)
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    assert ask(conn, 1) == "blue"
    point(upstream, green, url)
    assert ask(conn, 2) == "green"  # same client connection, next request: new version
    conn.request("GET", "/stream")
    assert conn.getresponse().read() == b"hello green"  # chunked bodies pass through


def test_switching_under_load_fails_no_request_and_drains_the_old_version(
    front: tuple[str, Path],
) -> None:
    url, upstream = front
    blue, green = backend("blue", delay=0.02), backend("green", delay=0.02)
    point(upstream, blue, url)
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def load() -> None:
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
        n = 0
        while not stop.is_set() and n < 2000:
            n += 1
            try:
                seen.append(ask(conn, n))
            except Exception as exc:
                errors.append(exc)
                conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    point(upstream, green, url)
    time.sleep(0.3)
    blue_port = f"127.0.0.1:{blue.server_address[1]}"
    for _ in range(100):  # in-flight requests to blue finish; then nothing goes there
        if not front_status(url)["active"].get(blue_port):
            break
        time.sleep(0.02)
    blue.shutdown()
    blue.server_close()
    time.sleep(0.3)
    stop.set()
    for w in workers:
        w.join(30)
    assert errors == []
    assert "blue" in seen and seen[-1] == "green"
    assert seen.index("green") > 0 and "blue" not in seen[-20:]
