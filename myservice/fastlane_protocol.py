"""uvicorn's httptools protocol with Hypercorn's bounds on a request's head: its size and the time it takes.

httptools has no limit of its own: a 64 MiB header was read whole, and a connection that sent a
request line, or nothing, was held as long as the client liked. Here, as with Hypercorn, a head
larger than HEAD_LIMIT_BYTES is answered 431 and the connection closed, and a connection whose
head has not arrived within KEEP_ALIVE_SECONDS of its first byte (or of the connection) is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from myservice.server import HEAD_LIMIT_BYTES, KEEP_ALIVE_SECONDS

TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that bounds each request head in bytes and in time."""

    head_bytes = 0
    head_timer: asyncio.TimerHandle | None = None
    closed = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; count what is still head, and answer 431 once it is too large."""
        if self.closed:
            return
        if self.head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._wait_for_head()  # the first bytes of the next request on this connection
        super().data_received(data)
        if self.head_timer is not None:  # the head is still incomplete: all of `data` was head
            self.head_bytes += len(data)
            if self.head_bytes > HEAD_LIMIT_BYTES:
                self.transport.write(TOO_LARGE)
                self._close()

    def on_headers_complete(self) -> None:
        """The head is complete: stop its clock."""
        self._stop_clock()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock with the connection."""
        self._stop_clock()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        self.head_bytes = 0
        self.head_timer = self.loop.call_later(KEEP_ALIVE_SECONDS, self._close)

    def _stop_clock(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _close(self) -> None:
        self._stop_clock()
        self.closed = True
        self.transport.close()
