"""A lean keep-alive HTTP/1.1 client for the pub/sub hot path (asyncio Protocol + httptools).

Event delivery is one small POST per message to one loopback app; aiohttp's general-purpose
machinery costs more CPU than the rest of the delivery. This pool keeps idle connections to the
app, writes each request in one `write()` and reads the response on an `http1.Http1Conn`
(httptools, the C parser uvicorn uses). Any transport error raises `AppUnavailable`; a request
that fails on a reused connection before any response byte arrived is retried once on a fresh
connection (the server may have closed an idle keep-alive connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ..http1 import Http1Conn
from .response import AppResponse, AppUnavailable


def _app_conn() -> Http1Conn:
    return Http1Conn("the app")


class FastHttpPool:
    """Keep-alive connections to one host:port; `post()` is safe to call concurrently."""

    def __init__(
        self, host: str, port: int, app_api_token: str | None = None, timeout: float = 60.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._idle: list[Http1Conn] = []
        self._host_header = f"Host: {host}:{port}\r\n"
        self._extra = f"dapr-api-token: {app_api_token}\r\n" if app_api_token else ""

    async def _connect(self) -> Http1Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_app_conn, self.host, self.port)
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
            loop = asyncio.get_running_loop()
            timer = loop.call_later(timeout or self.timeout, conn.fail, TimeoutError())
            try:
                answer = await conn.start(loop, data)
            except ConnectionResetError as exc:
                conn.close()
                if reused and not conn.got_bytes and attempt == 0:
                    continue
                raise AppUnavailable(f"app at {self.host}:{self.port}: {exc}") from exc
            except TimeoutError as exc:
                conn.close()
                raise AppUnavailable(f"app at {self.host}:{self.port} timed out") from exc
            except ConnectionError as exc:  # a malformed answer
                conn.close()
                raise AppUnavailable(str(exc)) from exc
            finally:
                timer.cancel()
            if conn.reusable():
                self._idle.append(conn)
            else:
                conn.close()
            return AppResponse(answer.status, answer.headers, answer.body)
        raise AppUnavailable(f"app at {self.host}:{self.port} closed the connection")

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
