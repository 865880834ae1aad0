"""In-process app calls for `funchost run`, where the app and the embedded sidecar share a process.

`AsgiBridge.request` does what `FastHttpPool.request` + uvicorn do for one loopback request,
without the socket, the HTTP encoding and both parses: it runs the app's ASGI callable (uvicorn's
loaded app, middleware included) as a task on the app's event loop with the scope uvicorn builds
for the bytes the pool would write (same headers: host, dapr-api-token, content-length...), and
collects the answer into the `AppResponse` the pool would return (uvicorn's default date/server
headers, `transfer-encoding: chunked` when the app sent no content-length, lowercased names).

Failure modes match the socket's: a request once the app stopped serving raises `AppUnavailable`
as a refused connection does; an app error before the response answers uvicorn's 500, after it
an `AppUnavailable` (uvicorn closes the connection); the timeout raises `AppUnavailable` and the
app sees `http.disconnect`. Requests run as uvicorn server tasks, so the app's drain middleware
counts them and uvicorn's graceful shutdown waits for (then cancels) them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import httptools

from .response import AppResponse, AppUnavailable

#: The client address the app sees (a loopback tuple, as over the socket).
CLIENT = ("127.0.0.1", 50000)
_DISCONNECT = {"type": "http.disconnect"}
_INTERNAL_ERROR = {
    "type": "http.response.start",
    "status": 500,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"21"),
        (b"connection", b"close"),
    ],
}
_access = logging.getLogger("uvicorn.access")
_error = logging.getLogger("uvicorn.error")


class _Mailbox:
    """Runs callbacks posted from other threads on `loop`, one wake-up per batch: under load a
    cross-thread wake-up (a pipe write and a loop turn) serves every call posted meanwhile."""

    __slots__ = ("_lock", "_pending", "_scheduled", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: list[Callable[[], None]] = []
        self._scheduled = False

    def post(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the loop soon; RuntimeError when the loop is closed."""
        with self._lock:
            self._pending.append(callback)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._run)
        except RuntimeError:
            with self._lock:
                self._pending.clear()
                self._scheduled = False
            raise

    def _run(self) -> None:
        while True:
            with self._lock:
                batch = self._pending
                if not batch:
                    self._scheduled = False
                    return
                self._pending = []
            for callback in batch:
                try:
                    callback()
                except Exception:  # one bad callback must not stall the mailbox
                    _error.exception("in-process call callback failed")


class AsgiBridge:
    """Calls one ASGI app on its own loop from another loop (see module docstring); also used
    the other way round, the app's actor state calls to the sidecar's HTTP API (`StateHttp`)."""

    def __init__(
        self,
        app: Any,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        *,
        app_api_token: str | None = None,
        default_headers: Callable[[], list[tuple[bytes, bytes]]] = list,
        tasks: set[asyncio.Task[None]] | None = None,
        state: Mapping[str, Any] | None = None,
        access_log: bool = False,
        lead: list[tuple[bytes, bytes]] | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        self.app = app
        self.loop = loop
        self.host = host
        self.port = port
        self.closed = False
        self.default_headers = default_headers
        self.tasks: set[asyncio.Task[None]] = set() if tasks is None else tasks
        self.state = state if state is not None else {}
        self.access_log = access_log
        self._server = (host, port)
        self._inbox = _Mailbox(loop)
        self._outboxes: dict[asyncio.AbstractEventLoop, _Mailbox] = {}
        #: What each request task starts from, as uvicorn's server tasks do (never the caller's
        #: context: the sidecar's spans and context variables stay on its side).
        self.context = context if context is not None else contextvars.Context()
        #: The headers before the caller's (as `FastHttpPool` writes them), then content-length.
        self.lead = lead if lead is not None else [(b"host", f"{host}:{port}".encode("latin-1"))]
        if app_api_token:
            self.lead.append((b"dapr-api-token", app_api_token.encode("latin-1")))

    def close(self) -> None:
        """From now on a request fails as a refused connection (the app stopped serving)."""
        self.closed = True

    # the errors of the socket client this bridge stands in for (`FastHttpPool` here)
    def refused(self) -> Exception:
        return AppUnavailable(
            f"app at {self.host}:{self.port} unreachable: "
            "ConnectionRefusedError(111, 'Connect call failed (in-process: the app stopped)')"
        )

    def timed_out(self, timeout: float) -> Exception:
        return AppUnavailable(f"app at {self.host}:{self.port} timed out")

    def reset(self) -> Exception:
        return AppUnavailable(f"app at {self.host}:{self.port}: connection closed by the app")

    async def request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
    ) -> AppResponse:
        """One request to the app; raises AppUnavailable as `FastHttpPool.request` does."""
        if self.closed:
            raise self.refused()
        hdrs = self.lead.copy()
        for k, v in headers.items():
            if "\r" in v or "\n" in v:
                continue
            hdrs.append((k.lower().encode("latin-1"), v.encode("latin-1")))
        hdrs.append((b"content-length", str(len(body)).encode()))
        loop = asyncio.get_running_loop()
        outbox = self._outboxes.get(loop)
        if outbox is None:
            outbox = self._outboxes[loop] = _Mailbox(loop)
        call = _Call(self, method, path, body, hdrs, loop, outbox)
        try:
            self._inbox.post(call.start)
        except RuntimeError as exc:  # the app's loop is closed
            raise self.refused() from exc
        timer = loop.call_later(timeout, call.expire, timeout)
        try:
            return await call.fut
        finally:
            timer.cancel()


class _Call:
    """One request: runs on the callee's loop, answers on the caller's loop."""

    __slots__ = (
        "body",
        "bridge",
        "complete",
        "disconnected",
        "done_event",
        "fut",
        "headers",
        "method",
        "outbox",
        "path",
        "received",
        "reply_loop",
        "resp_body",
        "resp_headers",
        "started",
        "status",
    )

    def __init__(
        self,
        bridge: AsgiBridge,
        method: str,
        path: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        reply_loop: asyncio.AbstractEventLoop,
        outbox: _Mailbox,
    ) -> None:
        self.bridge = bridge
        self.outbox = outbox
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers
        self.reply_loop = reply_loop
        self.fut: asyncio.Future[AppResponse] = reply_loop.create_future()
        self.received = False
        self.started = False
        self.complete = False
        self.disconnected = False
        self.done_event: asyncio.Event | None = None
        self.status = 0
        self.resp_headers: dict[str, str] = {}
        self.resp_body: list[bytes] = []

    # -- the sidecar's side ---------------------------------------------------------------------
    def _answer(self, result: AppResponse | BaseException) -> None:
        def settle() -> None:
            if self.fut.done():
                return
            if isinstance(result, BaseException):
                self.fut.set_exception(result)
            else:
                self.fut.set_result(result)

        with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody waits
            self.outbox.post(settle)

    def expire(self, timeout: float) -> None:
        """The timeout (caller's loop): fail now; the callee sees a disconnect."""
        if not self.fut.done():
            self.fut.set_exception(self.bridge.timed_out(timeout))
            with contextlib.suppress(RuntimeError):
                self.bridge.loop.call_soon_threadsafe(self._disconnect)

    # -- the app's side -------------------------------------------------------------------------
    def start(self) -> None:
        bridge = self.bridge
        if bridge.closed:
            self._answer(bridge.refused())
            return
        task = bridge.loop.create_task(self.run(), context=bridge.context.copy())
        bridge.tasks.add(task)
        task.add_done_callback(bridge.tasks.discard)

    def _disconnect(self) -> None:
        self.disconnected = True
        if self.done_event is not None:
            self.done_event.set()

    def scope(self) -> dict[str, Any]:
        url = httptools.parse_url(self.path.encode("latin-1"))
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        bridge = self.bridge
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": bridge._server,
            "client": CLIENT,
            "scheme": "http",
            "method": self.method,
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "state": dict(bridge.state),
        }

    async def run(self) -> None:
        scope = self.scope()
        try:
            result = await self.bridge.app(scope, self.receive, self.send)
        except BaseException as exc:  # as uvicorn: cancelled too (its graceful-shutdown timeout)
            _error.error("Exception in ASGI application\n", exc_info=exc)
            if not self.started:
                await self.send(_INTERNAL_ERROR)
                await self.send({"type": "http.response.body", "body": b"Internal Server Error"})
            else:
                self._reset()
        else:
            if result is not None:
                _error.error("ASGI callable should return None, but returned '%s'.", result)
                self._reset()
            elif not self.started and not self.disconnected:
                _error.error("ASGI callable returned without starting response.")
                await self.send(_INTERNAL_ERROR)
                await self.send({"type": "http.response.body", "body": b"Internal Server Error"})
            elif not self.complete and not self.disconnected:
                _error.error("ASGI callable returned without completing response.")
                self._reset()
        finally:
            self._reset()  # no-op once answered

    def _reset(self) -> None:
        """Answer as a connection the app closed mid-response does."""
        if not self.complete:
            self.complete = True
            self._answer(self.bridge.reset())

    async def receive(self) -> dict[str, Any]:
        if not self.received:
            self.received = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        if not (self.complete or self.disconnected):
            if self.done_event is None:
                self.done_event = asyncio.Event()
            await self.done_event.wait()
        return _DISCONNECT

    async def send(self, message: Any) -> None:
        if self.disconnected:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self.started = True
            self.status = status = message["status"]
            hdrs = self.resp_headers
            chunked: bool | None = None
            for name, value in [*self.bridge.default_headers(), *message.get("headers", ())]:
                name = name.lower()
                if name == b"content-length" and chunked is None:
                    chunked = False
                elif name == b"transfer-encoding" and value.lower() == b"chunked":
                    chunked = True
                hdrs[name.decode("latin-1")] = value.decode("latin-1")
            if chunked is None and self.method != "HEAD" and status not in (204, 304):
                hdrs["transfer-encoding"] = "chunked"
            if self.bridge.access_log and _access.isEnabledFor(logging.INFO):
                _access.info(
                    '%s - "%s %s HTTP/%s" %d',
                    f"{CLIENT[0]}:{CLIENT[1]}",
                    self.method,
                    self.path,
                    "1.1",
                    status,
                )
        elif not self.complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
                )
            body = message.get("body", b"")
            if body and self.method != "HEAD":
                self.resp_body.append(body)
            if not message.get("more_body", False):
                self.complete = True
                if self.done_event is not None:
                    self.done_event.set()
                self._answer(AppResponse(self.status, self.resp_headers, b"".join(self.resp_body)))
        else:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already "
                "completed."
            )


class SidecarApiBridge(AsgiBridge):
    """`AsgiBridge` to the sidecar's own HTTP API (the app's actor state client under
    `funchost run`), failing as that client's socket does."""

    def refused(self) -> Exception:
        return ConnectionRefusedError(
            111, f"Connect call failed ('{self.host}', {self.port}) (sidecar stopped)"
        )

    def timed_out(self, timeout: float) -> Exception:
        return TimeoutError(f"the sidecar did not answer within {timeout:g}s")

    def reset(self) -> Exception:
        return ConnectionResetError("connection closed by the sidecar")
