"""The deployment front: a small HTTP/1.1 reverse proxy that lepton-ci manages per environment.

Each model version listens on its own loopback port (host networking, no published ports). The
front listens on the environment's port and forwards every *request* (not connection) to the
upstream named in its upstream file, so switching versions is a file rewrite: the next request
goes to the new version while requests already in flight finish on the old one. Clients keep
their keep-alive connections to the front across a switch; upstream connections are one per
request, so the old version can be retired as soon as its in-flight count reaches zero.

``GET /-/lepton-front`` answers the current upstream and in-flight counts (read-only; deploy
polls it to confirm a switch and to drain). HTTP/1.1 is parsed and framed by h11 (one
``h11.Connection`` in the server role toward each client, one in the client role toward the
upstream), I/O is asyncio streams; h11 is the one dependency beyond the standard library, and
the ``serve`` extra installed in every model image brings it. The module runs inside any model
image as ``python -m lepton_ci.deploy.proxy``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import h11

STATUS_PATH = b"/-/lepton-front"
# RFC 9110 7.6.1 (plus Transfer-Encoding, RFC 9112 6.1): h11 frames each hop itself.
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
MAX_HEAD = 64 * 1024
READ_SIZE = 65536
HeaderList = list[tuple[bytes, bytes]]
Message = h11.Request | h11.InformationalResponse | h11.Response


class UpstreamFailed(Exception):
    """The upstream refused, reset or closed the exchange, or answered what is not HTTP/1.1."""


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

    def choose_upstream(self, request: h11.Request) -> str | None:
        """The upstream ``host:port`` for this request, ``None`` while nothing is routed.

        The one routing decision: every request to a version asks here, once. Today it is the
        upstream the file names; a weighted canary split replaces this body (and the file
        format :meth:`reload` reads), nothing else."""
        return self.upstream

    def status(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "generation": self.generation,
            "active": dict(self.active),
            "served": self.served,
            "pid": os.getpid(),
        }

    # -- connections ---------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            while True:
                request = await _next_event(client, reader)
                if not isinstance(request, h11.Request):
                    break  # the client closed between requests
                await self._exchange(request, client, reader, writer)
                if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
                    break  # either side asked to close, or a response ended the connection
                client.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            if client.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with contextlib.suppress(Exception):
                    await _answer(writer, client, exc.error_status_hint, str(exc))
        except UpstreamFailed as exc:
            if client.our_state is h11.SEND_RESPONSE:  # nothing final sent yet
                with contextlib.suppress(Exception):
                    await _answer(writer, client, 502, str(exc))
        except OSError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self,
        request: h11.Request,
        client: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        if request.target == STATUS_PATH and request.method == b"GET":
            while not isinstance(await _next_event(client, reader), h11.EndOfMessage):
                pass  # a body on a GET means nothing here
            await _answer(writer, client, 200, self.status(), close=False)
            return
        expect = _header(request.headers, b"expect")
        if expect is not None and expect.lower() != b"100-continue":
            await _answer(writer, client, 417, "only Expect: 100-continue is supported")
            return
        upstream = self.choose_upstream(request)
        if upstream is None:
            await _answer(writer, client, 503, "no version is routed yet")
            return
        self.active[upstream] += 1
        try:
            host, _, port = upstream.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                await _answer(writer, client, 502, "upstream unavailable")
                return
            try:
                await self._forward(request, upstream, client, reader, writer, up_reader, up_writer)
            finally:
                up_writer.close()
                with contextlib.suppress(Exception):
                    await up_writer.wait_closed()
        finally:
            self.active[upstream] -= 1
            if self.active[upstream] <= 0:
                del self.active[upstream]

    async def _forward(
        self,
        request: h11.Request,
        upstream: str,
        client: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        up = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        headers = _end_to_end(request)
        if _header(request.headers, b"host") is None:  # HTTP/1.0; the upstream hop is 1.1
            headers.insert(0, (b"Host", upstream.encode()))
        headers.append((b"Connection", b"close"))
        head = up.send(h11.Request(method=request.method, target=request.target, headers=headers))
        if client.they_are_waiting_for_100_continue and _has_body(request.headers):
            # the front reads the body, so it says "go on" (as nginx does); the upstream never
            # sees the Expect header
            await _send(writer, client, h11.InformationalResponse(status_code=100, headers=[]))
        try:
            await _pump(client, reader, up, up_writer, head, _is_chunked(request.headers))
        except OSError as exc:  # mostly the upstream; a client that left gets no 502 anyway
            raise UpstreamFailed("upstream closed before the request was sent") from exc
        # interim (1xx) responses are passed on to an HTTP/1.1 client and dropped for an
        # HTTP/1.0 one (RFC 9110 15.2)
        response = await _from_upstream(up, up_reader)
        while isinstance(response, h11.InformationalResponse):
            if client.their_http_version == b"1.1":
                interim = h11.InformationalResponse(
                    status_code=response.status_code,
                    headers=_end_to_end(response),
                    reason=response.reason,
                )
                await _send(writer, client, interim)
            response = await _from_upstream(up, up_reader)
        if not isinstance(response, h11.Response):
            raise UpstreamFailed("upstream closed without a response")
        final = client.send(
            h11.Response(
                status_code=response.status_code,
                headers=_end_to_end(response),
                reason=response.reason,
            )
        )
        # trailers only where the client's hop is chunked too (h11 chose it from the head)
        chunked = _is_chunked(response.headers) and client.their_http_version == b"1.1"
        try:
            await _pump(up, up_reader, client, writer, final, chunked)
        except (OSError, h11.RemoteProtocolError) as exc:  # the response has begun: close
            raise UpstreamFailed("upstream broke off its response") from exc
        self.served += 1


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event of ``conn``, reading from ``reader`` as h11 needs."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(READ_SIZE))


async def _from_upstream(up: h11.Connection, reader: asyncio.StreamReader) -> Any:
    try:
        return await _next_event(up, reader)
    except (OSError, h11.RemoteProtocolError) as exc:
        raise UpstreamFailed("upstream closed without a response") from exc


async def _pump(
    src: h11.Connection,
    reader: asyncio.StreamReader,
    dst: h11.Connection,
    writer: asyncio.StreamWriter,
    head: bytes | None,
    trailers: bool,
) -> None:
    """The body of the message ``src`` is reading, framed anew by ``dst`` after ``head`` (its
    head, already through ``dst``): one write per read, so a small message is one segment."""
    out = bytearray(head or b"")
    while True:
        event = src.next_event()
        if event is h11.NEED_DATA:
            writer.write(out)
            out.clear()
            await writer.drain()
            src.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Data):
            out += dst.send(h11.Data(data=event.data)) or b""
        elif isinstance(event, h11.EndOfMessage):
            end = h11.EndOfMessage(headers=event.headers.raw_items() if trailers else [])
            writer.write(out + (dst.send(end) or b""))
            await writer.drain()
            return
        else:
            raise ConnectionResetError("the peer closed in the middle of its message")


async def _send(writer: asyncio.StreamWriter, conn: h11.Connection, *events: Any) -> None:
    for event in events:
        data = conn.send(event)
        if data:
            writer.write(data)
    await writer.drain()


async def _answer(
    writer: asyncio.StreamWriter,
    client: h11.Connection,
    status: int,
    body: str | dict[str, Any],
    *,
    close: bool = True,
) -> None:
    """The front's own JSON response: ``{"error": …}`` for a string. Refusals close the
    connection (the client's body, if any, is never read)."""
    data = json.dumps({"error": body} if isinstance(body, str) else body).encode()
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(data))]
    if close:
        headers.append((b"Connection", b"close"))
    response = h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)
    await _send(writer, client, response, h11.Data(data=data), h11.EndOfMessage())


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:  # h11 gives lower-case names
        if key == name:
            return value
    return None


def _is_chunked(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return _header(headers, b"transfer-encoding") is not None  # h11 admits only "chunked"


def _has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return _is_chunked(headers) or int(_header(headers, b"content-length") or b"0") > 0


def _end_to_end(message: Message) -> HeaderList:
    """The headers the next hop gets, with their original case, framed as they came: a chunked
    message stays chunked and loses any Content-Length, which an intermediary must remove
    (RFC 9112 6.3); h11 writes the framing from these. Hop-by-hop headers go, with those the
    Connection header names (RFC 9110 7.6.1)."""
    named = b",".join(v for k, v in message.headers if k == b"connection").lower().split(b",")
    dropped = HOP_BY_HOP | {name.strip() for name in named}
    kept = [(k, v) for k, v in message.headers.raw_items() if k.lower() not in dropped]
    if _is_chunked(message.headers):
        kept = [(k, v) for k, v in kept if k.lower() != b"content-length"]
        kept.append((b"Transfer-Encoding", b"chunked"))
    return kept


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
