"""A lean keep-alive HTTP/1.1 client for the pub/sub hot path (asyncio Protocol + httptools).

Event delivery is one small POST per message to one loopback app; aiohttp's general-purpose
machinery costs more CPU than the rest of the delivery. This pool keeps idle connections to the
app, writes each request in one `write()` and parses the response with httptools (the C parser
uvicorn uses). Any transport error raises `AppUnavailable`; a request that fails on a reused
connection before any response byte arrived is retried once on a fresh connection (the server
may have closed an idle keep-alive connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httptools

from .response import AppResponse, AppUnavailable


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.fut: asyncio.Future[AppResponse] | None = None
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
            self._fail(AppUnavailable(f"malformed HTTP response from the app: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("connection closed by the app"))

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
                AppResponse(self.parser.get_status_code(), self.headers, b"".join(self.body))
            )

    # helpers
    def _fail(self, exc: BaseException) -> None:
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def start(self, data: bytes) -> asyncio.Future[AppResponse]:
        self.fut = asyncio.get_running_loop().create_future()
        self.headers = {}
        self.body = []
        self.got_bytes = False
        self.keep_alive = False
        assert self.transport is not None
        self.transport.write(data)
        return self.fut

    def reusable(self) -> bool:
        return not self.closed and self.keep_alive

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class FastHttpPool:
    """Keep-alive connections to one host:port; `post()` is safe to call concurrently."""

    def __init__(
        self, host: str, port: int, app_api_token: str | None = None, timeout: float = 60.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._idle: list[_Conn] = []
        self._host_header = f"Host: {host}:{port}\r\n"
        self._extra = f"dapr-api-token: {app_api_token}\r\n" if app_api_token else ""

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Conn, self.host, self.port)
        except OSError as exc:
            raise AppUnavailable(f"app at {self.host}:{self.port} unreachable: {exc!r}") from exc
        return conn

    def _encode(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\n", self._host_header, self._extra]
        for k, v in headers.items():
            if "\r" in v or "\n" in v:
                continue
            lines.append(f"{k}: {v}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        return "".join(lines).encode("latin-1") + body

    async def request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None = None,
    ) -> AppResponse:
        """Send one request; raises AppUnavailable on connection problems or timeout."""
        data = self._encode(method, path, body, headers)
        for attempt in (0, 1):
            while self._idle and self._idle[-1].closed:
                self._idle.pop()
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            fut = conn.start(data)
            timer = asyncio.get_running_loop().call_later(
                timeout or self.timeout, conn._fail, TimeoutError()
            )
            try:
                resp = await fut
            except ConnectionResetError as exc:
                conn.close()
                if reused and not conn.got_bytes and attempt == 0:
                    continue
                raise AppUnavailable(f"app at {self.host}:{self.port}: {exc}") from exc
            except TimeoutError as exc:
                conn.close()
                raise AppUnavailable(f"app at {self.host}:{self.port} timed out") from exc
            except AppUnavailable:
                conn.close()
                raise
            finally:
                timer.cancel()
            if conn.reusable():
                self._idle.append(conn)
            else:
                conn.close()
            return resp
        raise AppUnavailable(f"app at {self.host}:{self.port} closed the connection")

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
