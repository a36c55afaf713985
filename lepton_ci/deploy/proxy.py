"""The deployment front: a small HTTP/1.1 reverse proxy that lepton-ci manages per environment.

Each model version listens on its own loopback port (host networking, no published ports). The
front listens on the environment's port and forwards every *request* (not connection) to the
upstream named in its upstream file, so switching versions is a file rewrite: the next request
goes to the new version while requests already in flight finish on the old one. Clients keep
their keep-alive connections to the front across a switch; upstream connections are one per
request, so the old version can be retired as soon as its in-flight count reaches zero.

``GET /-/lepton-front`` answers the current upstream and in-flight counts (read-only; deploy
polls it to confirm a switch and to drain). Only the standard library is used: this module runs
inside any model image as ``python -m lepton_ci.deploy.proxy``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from pathlib import Path

STATUS_PATH = b"/-/lepton-front"
# RFC 9110 7.6.1 (plus Transfer-Encoding, RFC 9112 6.1): the front frames each hop itself.
# Expect is answered by the front (below), never forwarded.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"upgrade",
    b"trailer",
    b"transfer-encoding",
    b"expect",
}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_HEAD = 64 * 1024


class Front:
    def __init__(self, upstream_file: Path, poll_seconds: float = 0.05) -> None:
        self.upstream_file = upstream_file
        self.poll_seconds = poll_seconds
        self.upstream: str | None = None
        self.generation = ""
        self.active: Counter[str] = Counter()
        self.served = 0

    # -- upstream file -------------------------------------------------------------------------
    def reload(self) -> None:
        try:
            text = self.upstream_file.read_text().strip()
        except OSError:
            return
        # "<generation> <host:port> end"; a half-written file keeps the current upstream
        parts = text.split()
        if len(parts) == 3 and parts[2] == "end" and ":" in parts[1]:
            self.generation, self.upstream = parts[0], parts[1]

    async def watch(self) -> None:
        while True:
            self.reload()
            await asyncio.sleep(self.poll_seconds)

    # -- connections ---------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            keep_alive = True
            while keep_alive:
                head = await _read_head(reader)
                if head is None:
                    break
                keep_alive = await self._one_request(head, reader, writer)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        line, headers = _parse_head(head)
        method, target, version = line.split(b" ", 2)
        keep_alive = _client_keeps_alive(version, headers)
        if target == STATUS_PATH and method == b"GET":
            body = json.dumps(
                {
                    "upstream": self.upstream,
                    "generation": self.generation,
                    "active": dict(self.active),
                    "served": self.served,
                    "pid": os.getpid(),
                }
            ).encode()
            writer.write(_response(200, body, keep_alive))
            await writer.drain()
            return keep_alive
        expect = _get(headers, b"expect")
        if expect is not None and expect.lower() != b"100-continue":
            writer.write(
                _response(417, b'{"error": "only Expect: 100-continue is supported"}', False)
            )
            await writer.drain()
            return False
        upstream = self.upstream
        if upstream is None:
            writer.write(_response(503, b'{"error": "no version is routed yet"}', False))
            await writer.drain()
            return False
        self.active[upstream] += 1
        try:
            host, _, port = upstream.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.write(_response(502, b'{"error": "upstream unavailable"}', False))
                await writer.drain()
                return False
            try:
                up_writer.write(_request_head(line, headers))
                if _expects_continue(headers) and _has_body(headers):
                    # the front reads the body, so it says "go on" (as nginx does); the
                    # upstream never sees the Expect header
                    writer.write(CONTINUE)
                    await writer.drain()
                await _relay_body(reader, up_writer, headers, method, is_request=True)
                await up_writer.drain()
                status_line, resp_headers = await _final_head(up_reader, writer, version)
                status = int(status_line.split(b" ", 2)[1])
                framed = _has_framing(resp_headers, method, status)
                keep_alive = keep_alive and framed
                writer.write(_response_head(status_line, resp_headers, keep_alive))
                if framed:
                    await _relay_body(up_reader, writer, resp_headers, method, status=status)
                else:
                    while chunk := await up_reader.read(65536):
                        writer.write(chunk)
                        await writer.drain()
                await writer.drain()
                self.served += 1
                return keep_alive
            finally:
                up_writer.close()
                with contextlib.suppress(Exception):
                    await up_writer.wait_closed()
        finally:
            self.active[upstream] -= 1
            if self.active[upstream] <= 0:
                del self.active[upstream]


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    if len(head) > MAX_HEAD:
        raise ValueError("header too large")
    return head


def _parse_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    lines = head[:-4].split(b"\r\n")
    headers = []
    for raw in lines[1:]:
        name, _, value = raw.partition(b":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _get(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _client_keeps_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    conn = (_get(headers, b"connection") or b"").lower()
    if version.strip() == b"HTTP/1.0":
        return b"keep-alive" in conn
    return b"close" not in conn


async def _final_head(
    upstream: asyncio.StreamReader, client: asyncio.StreamWriter, version: bytes
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The upstream's final status line and headers. Interim (1xx) responses before it are
    passed on to an HTTP/1.1 client and dropped for an HTTP/1.0 one (RFC 9110 15.2)."""
    while True:
        head = await _read_head(upstream)
        if head is None:
            raise ConnectionError("upstream closed without a response")
        status_line, headers = _parse_head(head)
        if not 100 <= int(status_line.split(b" ", 2)[1]) < 200:
            return status_line, headers
        if version.strip() != b"HTTP/1.0":
            client.write(head)
            await client.drain()


def _expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    return (_get(headers, b"expect") or b"").lower() == b"100-continue"


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return _is_chunked(headers) or int(_get(headers, b"content-length") or b"0") > 0


def _is_chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    return b"chunked" in (_get(headers, b"transfer-encoding") or b"").lower()


def _has_framing(headers: list[tuple[bytes, bytes]], method: bytes, status: int) -> bool:
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        return True
    return _is_chunked(headers) or _get(headers, b"content-length") is not None


def _request_head(line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
    if _is_chunked(headers):
        # chunked overrides a Content-Length, which an intermediary must remove (RFC 9112 6.3)
        kept = [(k, v) for k, v in kept if k.lower() != b"content-length"]
        kept.append((b"Transfer-Encoding", b"chunked"))
    kept.append((b"Connection", b"close"))
    return line + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in kept) + b"\r\n"


def _response_head(line: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
    if _is_chunked(headers):
        kept.append((b"Transfer-Encoding", b"chunked"))
    kept.append((b"Connection", b"keep-alive" if keep_alive else b"close"))
    return line + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in kept) + b"\r\n"


async def _relay_body(
    src: asyncio.StreamReader,
    dst: asyncio.StreamWriter,
    headers: list[tuple[bytes, bytes]],
    method: bytes,
    *,
    is_request: bool = False,
    status: int = 200,
) -> None:
    if not is_request and (method == b"HEAD" or status in (204, 304) or status < 200):
        return
    if _is_chunked(headers):
        while True:
            size_line = await src.readuntil(b"\r\n")
            dst.write(size_line)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = await src.readuntil(b"\r\n")
                    dst.write(trailer)
                    if trailer == b"\r\n":
                        return
            dst.write(await src.readexactly(size + 2))
            await dst.drain()
    length = int(_get(headers, b"content-length") or b"0")
    while length > 0:
        chunk = await src.read(min(length, 65536))
        if not chunk:
            raise ConnectionError("body ended early")
        dst.write(chunk)
        length -= len(chunk)
        await dst.drain()


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    reason = {
        200: b"OK",
        417: b"Expectation Failed",
        502: b"Bad Gateway",
        503: b"Service Unavailable",
    }[status]
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: %s\r\n\r\n"
        % (status, reason, len(body), b"keep-alive" if keep_alive else b"close")
    ) + body


async def serve(host: str, port: int, upstream_file: Path, drain_seconds: float = 30.0) -> None:
    front = Front(upstream_file)
    front.reload()
    watcher = asyncio.create_task(front.watch())
    server = await asyncio.start_server(front.handle, host, port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"lepton-ci front listening on {host}:{port}", flush=True)
    await stop.wait()
    server.close()  # stop accepting; finish what is in flight
    for _ in range(int(drain_seconds * 10)):
        if not front.active:
            break
        await asyncio.sleep(0.1)
    watcher.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lepton_ci.deploy.proxy", description=__doc__)
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on")
    parser.add_argument("--upstream-file", required=True, type=Path)
    parser.add_argument("--drain-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port), args.upstream_file, args.drain_seconds))


if __name__ == "__main__":
    main()
