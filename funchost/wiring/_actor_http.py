"""A lean keep-alive HTTP/1.1 client to the sidecar's actor state API (the hot state save).

Every actor call that changes state ends with one transaction
(`PUT /v1.0/actors/{type}/{id}/state`, the body `StateProvider.save_state` builds). Through
the SDK's gRPC client that body is parsed and re-encoded into protobuf, and a unary gRPC call
costs several times the CPU of a small HTTP request on both ends; the SDK's own HTTP client
opens a new connection per request. This pool keeps idle connections to the sidecar, writes each
request in one `write()` and reads the answer on an `Http1Conn` (httptools, the C parser uvicorn
uses), the connection the sidecar's app channel uses too (`funchost.sidecar.http1`, shared with
the host as the name registry is).
Headers and errors are those of the SDK's HTTP client (`DaprHttpError` from the error body).

Under `funchost run` (`use_in_process_sidecar`) the same requests run in-process: the sidecar's
HTTP API ASGI app is called on the sidecar's loop with the scope its uvicorn would build
(app_channel/inproc.py), with the socket's errors (refused, reset, timeout).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlsplit

from dapr.clients.exceptions import DaprHttpError
from dapr.clients.http.conf import DAPR_USER_AGENT
from dapr.conf import settings

from funchost.sidecar.http1 import Http1Conn, Http1Response

__all__ = ["StateHttp", "state_endpoint", "use_in_process_sidecar"]

_KEEP_IDLE = 64
#: (the sidecar's HTTP API uvicorn server, its loop, its port, the bridge class) when it runs
#: in this process.
_in_process: tuple[Any, asyncio.AbstractEventLoop, int, Any] | None = None


def use_in_process_sidecar(
    server: Any, loop: asyncio.AbstractEventLoop | None = None, port: int = 0, bridge: Any = None
) -> None:
    """Call the sidecar whose HTTP API `server` (a started uvicorn.Server) serves on `loop` and
    `port` in-process, through `bridge` (the sidecar's `SidecarApiBridge` class: `funchost run`
    passes it, so the host itself never imports the sidecar); None: over the socket again."""
    global _in_process
    if server is None or loop is None or bridge is None:
        _in_process = None
    else:
        _in_process = (server, loop, port, bridge)


def state_endpoint() -> tuple[str, int] | None:
    """(host, port) of the sidecar's HTTP API as the SDK's HTTP client finds it (None: https)."""
    endpoint = settings.DAPR_HTTP_ENDPOINT
    if endpoint:
        url = urlsplit(str(endpoint))
        if url.scheme != "http" or not url.hostname or (url.path or "/") != "/":
            return None
        return url.hostname, url.port or 80
    return str(settings.DAPR_RUNTIME_HOST), int(settings.DAPR_HTTP_PORT)


def _sidecar_conn() -> Http1Conn:
    return Http1Conn("the sidecar", collect_headers=False)


class StateHttp:
    """`save_state_transactionally` and `get_state` over kept-alive HTTP connections."""

    def __init__(self, host: str, port: int, serializer: Any, timeout: float | None = None) -> None:
        self.host = host
        self.port = port
        self.serializer = serializer
        self.timeout = float(timeout or settings.DAPR_HTTP_TIMEOUT_SECONDS)
        self._idle: list[Http1Conn] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        token = settings.DAPR_API_TOKEN  # read once, as the host exported it at start-up
        self._lead = [
            (b"host", f"{host}:{port}".encode("latin-1")),
            (b"content-type", b"application/json; charset=utf-8"),
            *([(b"dapr-api-token", token.encode("latin-1"))] if token else []),
            (b"user-agent", DAPR_USER_AGENT.encode("latin-1")),
        ]
        self._bridge: Any = None
        self._head = (
            f"Host: {host}:{port}\r\ncontent-type: application/json; charset=utf-8\r\n"
            + (f"dapr-api-token: {token}\r\n" if token else "")
            + f"User-Agent: {DAPR_USER_AGENT}\r\nContent-Length: "
        ).encode()

    def _headers(self, length: int) -> bytes:
        return self._head + str(length).encode() + b"\r\n\r\n"

    async def save_state_transactionally(self, actor_type: str, actor_id: str, data: bytes) -> None:
        """PUT the transaction to `/v1.0/actors/{type}/{id}/state`; DaprHttpError unless 2xx."""
        path = f"/v1.0/actors/{quote(actor_type, safe='')}/{quote(actor_id, safe='')}/state"
        answer = await self._call("PUT", path, data)
        if not 200 <= answer.status < 300:
            raise DaprHttpError(
                self.serializer, raw_response_bytes=answer.body, status_code=answer.status
            )

    async def get_state(self, actor_type: str, actor_id: str, name: str) -> bytes:
        """GET `/v1.0/actors/{type}/{id}/state/{key}`: the stored bytes, b"" when none (204)."""
        path = (
            f"/v1.0/actors/{quote(actor_type, safe='')}/{quote(actor_id, safe='')}"
            f"/state/{quote(name, safe='')}"
        )
        answer = await self._call("GET", path, b"")
        if not 200 <= answer.status < 300:
            raise DaprHttpError(
                self.serializer, raw_response_bytes=answer.body, status_code=answer.status
            )
        return answer.body

    async def _call(self, method: str, path: str, data: bytes) -> Http1Response:
        bridge = self._in_process_bridge()
        if bridge is not None:
            resp = await bridge.request(method, path, data, {}, self.timeout)
            return Http1Response(resp.status, {}, resp.body)
        head = method.encode() + b" " + path.encode() + b" HTTP/1.1\r\n"
        return await self._request(head + self._headers(len(data)) + data)

    def _in_process_bridge(self) -> Any:
        target = _in_process
        if target is None:
            self._bridge = None
            return None
        bridge = self._bridge
        if bridge is None or bridge.app is not target[0].config.loaded_app:
            server, loop, port, bridge_class = target
            if port != self.port:
                return None  # another sidecar than the one in this process
            bridge = self._bridge = bridge_class(
                server.config.loaded_app,
                loop,
                self.host,
                self.port,
                default_headers=lambda: server.server_state.default_headers,
                tasks=server.server_state.tasks,
                access_log=server.config.access_log,
                lead=self._lead,
            )
        return bridge

    async def _request(self, request: bytes) -> Http1Response:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self.close()
            self._loop = loop
        idle = self._idle
        while idle and idle[-1].closed:  # closed by the sidecar while idle
            idle.pop()
        reused = bool(idle)
        conn = idle.pop() if reused else await self._open(loop)
        try:
            answer = await self._send(loop, conn, request)
        except ConnectionError:
            conn.close()
            if not reused or conn.got_bytes:
                raise
            # the sidecar closed an idle connection before reading the request: send it again
            conn = await self._open(loop)
            try:
                answer = await self._send(loop, conn, request)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        if conn.keep_alive and not conn.closed and len(self._idle) < _KEEP_IDLE:
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    async def _send(
        self, loop: asyncio.AbstractEventLoop, conn: Http1Conn, data: bytes
    ) -> Http1Response:
        fut = conn.start(loop, data)
        timer = loop.call_later(self.timeout, _expire, fut, self.timeout)
        try:
            return await fut
        finally:
            timer.cancel()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> Http1Conn:
        _, conn = await loop.create_connection(_sidecar_conn, self.host, self.port)
        return conn

    def close(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _expire(fut: asyncio.Future[Http1Response], seconds: float) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"the sidecar did not answer within {seconds:g}s"))
