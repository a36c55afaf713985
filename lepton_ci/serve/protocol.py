"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for each request's headers.

uvicorn closes an idle keep-alive connection ``timeout_keep_alive`` seconds after a response, but
a connection that never sends a request, or trickles its headers, is held for ever: uvicorn 0.55's
``protocols/http/h11_impl.py`` starts no timer in ``connection_made`` and cancels the keep-alive
timer on any byte (``data_received``). Hundreds of such clients held the server's file
descriptors until normal requests timed out. Here the same timer starts when the connection is
made and survives partial headers: a request's headers must be complete within
``timeout_keep_alive`` seconds (uvicorn's default, 5) of the connection or the previous response.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    """``uvicorn.Config(http=HeaderDeadlineProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        pending, self.timeout_keep_alive_task = self.timeout_keep_alive_task, None
        super().data_received(data)  # uvicorn would have cancelled ``pending`` here
        if pending is None:
            return
        if self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = pending  # headers still incomplete: the deadline holds
        else:
            pending.cancel()
