"""The front proxy: per-request routing, switching without failed requests, draining."""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
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


def raw_backend(answer: bytes) -> socketserver.ThreadingTCPServer:
    """A version that answers ``answer`` verbatim to any request head, then closes."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.wfile.write(answer)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
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


def point(upstream: Path, server: socketserver.TCPServer, url: str) -> None:
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


def test_interim_responses_of_the_version_reach_an_http11_client(front: tuple[str, Path]) -> None:
    url, upstream = front
    point(
        upstream,
        raw_backend(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        ),
        url,
    )
    _, _, port = url.rpartition(":")
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    interim, _, final = answer.partition(b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 103 ") and b"Link: </a.css>" in interim
    assert final.startswith(b"HTTP/1.1 200 ") and final.endswith(b"\r\n\r\nok")


def test_a_response_without_framing_is_chunked_to_a_keep_alive_client(
    front: tuple[str, Path],
) -> None:
    """A version answering until it closes does not cost the client its connection."""
    url, upstream = front
    point(upstream, raw_backend(b"HTTP/1.1 200 OK\r\n\r\nuntil close"), url)
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    for _ in range(2):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == b"until close" and not response.will_close


def test_a_version_that_closes_without_answering_gets_a_502(front: tuple[str, Path]) -> None:
    url, upstream = front
    point(upstream, raw_backend(b""), url)
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    conn.request("POST", "/predict", body=b"{}")
    response = conn.getresponse()
    assert response.status == 502
    assert json.loads(response.read()) == {"error": "upstream closed without a response"}
