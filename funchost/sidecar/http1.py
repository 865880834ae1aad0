"""One kept-alive HTTP/1.1 client connection: an asyncio Protocol with httptools' C parser.

Two hot paths send small requests to one loopback peer and keep the connection: the sidecar's
deliveries to the app (`app_channel/fast_http.py`) and the app's actor state saves to its
sidecar (`funchost.wiring._actor_http`). Each writes a request in one `write()` and reads the
answer here. Errors are the socket's: `ConnectionResetError` when the peer closed the
connection (`got_bytes` says whether any of the answer arrived, so an idle connection closed by
the peer can be retried), `ConnectionError` for a malformed answer.

Shared with the host like `resolution`: it imports nothing else of funchost.
"""

from __future__ import annotations

import asyncio

import httptools

__all__ = ["Http1Conn", "Http1Response"]


class Http1Response:
    """Status, headers (only when the connection collects them) and body of one answer."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Http1Conn(asyncio.Protocol):
    """A connection to `peer` (named in errors); `start()` sends a request, its future answers.

    `collect_headers=False` skips the response headers (httptools then never calls back for them).
    """

    def __init__(self, peer: str, collect_headers: bool = True) -> None:
        self.peer = peer
        if not collect_headers:  # before the parser is made: it looks its callbacks up once
            self.on_header = None  # type: ignore[assignment]
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.fut: asyncio.Future[Http1Response] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.got_bytes = False
        self.closed = False
        self.keep_alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(ConnectionError(f"malformed HTTP response from {self.peer}: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail(ConnectionResetError(f"connection closed by {self.peer}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(
                Http1Response(self.parser.get_status_code(), self.headers, b"".join(self.body))
            )

    # the client's side
    def fail(self, exc: BaseException) -> None:
        """Fail the request in flight, if any, with `exc` (e.g. a timeout)."""
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def start(self, loop: asyncio.AbstractEventLoop, data: bytes) -> asyncio.Future[Http1Response]:
        """Write one whole request; the future answers (or raises) once its response is read."""
        self.fut = fut = loop.create_future()
        self.headers = {}
        self.body = []
        self.got_bytes = self.keep_alive = False
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise ConnectionResetError(f"connection closed by {self.peer}")
        try:
            transport.write(data)
        except RuntimeError as exc:  # uvloop: the handle closed under us
            raise ConnectionResetError(str(exc)) from None
        return fut

    def reusable(self) -> bool:
        """True when the last answer left the connection open for another request."""
        return not self.closed and self.keep_alive

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
