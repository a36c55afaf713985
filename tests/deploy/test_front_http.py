"""HTTP/1.1 through the front as straight to the version: request bodies however the client
frames them (RFC 9112 6-7), and ``Expect: 100-continue`` (RFC 9110 10.1.1), which curl sends
for bodies over 1 MiB.

The version here is the HTTP implementation ``serve`` runs (uvicorn's h11 protocol) with an
app that answers what it received, so each case is checked twice: direct, then through the
front, with the same answer expected.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from lepton_ci.deploy.switch import front_status
from lepton_ci.netutil import free_port

BODY = bytes(range(256)) * 8192  # 2 MiB: curl would send Expect: 100-continue


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers the received body's length and digest, and the framing headers it came with."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    answer = json.dumps(
        {
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "framing": {k: headers.get(k) for k in ("content-length", "transfer-encoding")},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(answer)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def version() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        echo, host="127.0.0.1", port=port, http="h11", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def front(version: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    upstream = tmp_path_factory.mktemp("front") / "upstream"
    upstream.write_text(f"1 127.0.0.1:{version} end\n")
    argv = [sys.executable, "-m", "lepton_ci.deploy.proxy", "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*argv, "--upstream-file", str(upstream)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        status = front_status(f"http://127.0.0.1:{port}")
        if status is not None and status.get("upstream"):
            break
        time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["direct", "through the front"])
def port(request: pytest.FixtureRequest, version: int) -> int:
    return version if request.param == "direct" else int(request.getfixturevalue("front"))


def received(body: bytes) -> dict[str, Any]:
    return {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response from a raw socket: status, headers (lower-case), body (Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def test_a_content_length_body_arrives_whole(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/predict", body=BODY)
    answer = json.loads(conn.getresponse().read())
    assert {k: answer[k] for k in ("length", "sha256")} == received(BODY)
    assert answer["framing"] == {"content-length": str(len(BODY)), "transfer-encoding": None}


def test_a_chunked_body_arrives_whole_with_one_transfer_encoding(port: int) -> None:
    """The front used to add its own ``Transfer-Encoding: chunked`` to the client's, and h11
    answers 400 to a repeated Transfer-Encoding."""
    parts = [BODY[:1000], BODY[1000:70000], BODY[70000:]]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/predict", body=iter(parts), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    answer = json.loads(response.read())
    assert {k: answer[k] for k in ("length", "sha256")} == received(BODY)
    assert answer["framing"] == {"content-length": None, "transfer-encoding": "chunked"}


def test_expect_100_continue_gets_continue_then_the_final_response(port: int) -> None:
    """The client sends the body only after ``100 Continue``; the final response follows it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(BODY)
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1)  # one byte at a time: what follows is the final response
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        sock.sendall(BODY)
        status, _, body = read_response(sock)
    assert status == 200
    assert {k: json.loads(body)[k] for k in ("length", "sha256")} == received(BODY)


def test_chunked_with_a_content_length_is_read_as_chunked_and_forwarded_without_it(
    front: int,
) -> None:
    """Both framings (a request-smuggling shape): Transfer-Encoding wins, and the front
    removes the Content-Length before forwarding, as RFC 9112 6.3 requires of intermediaries."""
    with socket.create_connection(("127.0.0.1", front), timeout=5) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        status, _, body = read_response(sock)
    answer = json.loads(body)
    assert status == 200
    assert {k: answer[k] for k in ("length", "sha256")} == received(b"hello")
    assert answer["framing"] == {"content-length": None, "transfer-encoding": "chunked"}


def test_an_expectation_other_than_continue_is_refused_with_417(front: int) -> None:
    with socket.create_connection(("127.0.0.1", front), timeout=5) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: tea\r\n\r\n"
        )
        status, _, _ = read_response(sock)
    assert status == 417


def test_the_status_endpoint_names_no_path(front: int) -> None:
    """Upstream address, generation and counts only: not the upstream file's location."""
    status = front_status(f"http://127.0.0.1:{front}")
    assert status is not None
    assert set(status) == {"upstream", "generation", "active", "served", "pid"}
    assert "/" not in json.dumps(status)
