"""Serve an ASGI app with uvicorn on its own event loop in a thread (for `funchost.testing`).

`AppServer.start()` returns once the app's lifespan startup finished (the host starts its
`WorkflowRuntime` there, so the worker stream is connected) and the port listens.
`AppServer.stop()` shuts down cleanly; `AppServer.kill()` drops every connection first and never
waits for in-flight requests, as close to kill -9 as a thread allows (the lifespan shutdown still
runs so the app's worker threads end; the sidecar is already gone by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any

import uvicorn

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

log = logging.getLogger("funchost.testing")


def stack_env(app_id: str, http_port: int, grpc_port: int, app_port: int | None) -> dict[str, str]:
    """The environment the app and the test's SDK clients need to find the sidecar and the app."""
    return {
        "DAPR_HTTP_PORT": str(http_port),
        "DAPR_GRPC_PORT": str(grpc_port),
        "APP_ID": app_id,
        "APP_PORT": str(app_port),
    }


class InflightCounter:
    """ASGI middleware counting HTTP requests the app is still handling."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inflight = 0
        self.total = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.inflight += 1
        self.total += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1


class _StartupErrors(logging.Handler):
    """Collects what uvicorn logs while the app starts, to explain a failed start."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.messages.append(text)


class AppStartError(RuntimeError):
    """The app did not start (lifespan startup failed or the port was taken)."""


def workflow_worker_pending(app: Any) -> bool:
    """True while a funchost app that runs workflows has not connected its worker yet.

    The host starts its `WorkflowRuntime` in the background once the sidecar is healthy and
    sets `host.workflow_runtime` when the work-item stream is open.
    """
    host = getattr(getattr(app, "state", None), "funchost", None)
    if host is None:
        return False
    registry, settings = host.registry, host.settings
    wanted = getattr(settings, "workflows", True) and (registry.workflows or registry.activities)
    return bool(wanted) and host.workflow_runtime is None


def _startup_tasks_pending(app: Any) -> list[Any]:
    host = getattr(getattr(app, "state", None), "funchost", None)
    return [t for t in getattr(host, "tasks", ()) if not t.done()]


def wait_for_host_startup(app: Any, timeout: float) -> None:
    """Block until a funchost app finished its background start-up (workflow worker connected,
    cron jobs scheduled), so a test's first `advance()` sees every job; no-op for other apps."""
    import time

    deadline = time.monotonic() + timeout
    while workflow_worker_pending(app):
        if time.monotonic() > deadline:
            raise AppStartError(
                f"the app's workflow runtime did not connect to the sidecar within {timeout:.0f}s "
                "(see the log of funchost.workflows)"
            )
        time.sleep(0.01)
    while _startup_tasks_pending(app):
        if time.monotonic() > deadline:
            log.warning(
                "funchost.testing: start-up tasks still running: %s", _startup_tasks_pending(app)
            )
            return
        time.sleep(0.01)


class AppServer:
    """One ASGI app served by uvicorn on 127.0.0.1:`port` in a daemon thread."""

    def __init__(self, app: ASGIApp, port: int, *, log_level: str = "warning") -> None:
        self.counter = InflightCounter(app)
        self.port = port
        self.log_level = log_level
        self.server: uvicorn.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started: Future[None] = Future()

    @property
    def inflight(self) -> int:
        return self.counter.inflight

    def start(self, timeout: float = 60.0) -> None:
        """Start serving; raise AppStartError with uvicorn's error when the app fails to start."""
        errors = _StartupErrors()
        logging.getLogger("uvicorn.error").addHandler(errors)
        try:
            self._thread = threading.Thread(target=self._run, name="funchost-app", daemon=True)
            self._thread.start()
            try:
                self._started.result(timeout)
            except TimeoutError:
                raise AppStartError(
                    f"the app on port {self.port} did not start within {timeout:.0f}s "
                    "(is its lifespan startup waiting on something?)"
                ) from None
            except BaseException as exc:
                detail = "\n".join(errors.messages) or repr(exc)
                raise AppStartError(
                    f"the app on port {self.port} failed to start:\n{detail}"
                ) from None
        finally:
            logging.getLogger("uvicorn.error").removeHandler(errors)

    def _run(self) -> None:
        from funchost.sidecar.server import new_event_loop

        self.loop = loop = new_event_loop()
        asyncio.set_event_loop(loop)
        config = uvicorn.Config(
            self.counter,
            host="127.0.0.1",
            port=self.port,
            log_level=self.log_level,
            log_config=None,  # keep the test session's logging configuration as it is
            access_log=False,
            lifespan="auto",
            loop="none",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        self.server = server

        async def serve() -> None:
            with contextlib.suppress(SystemExit):  # uvicorn exits on a failed lifespan startup
                await server.serve()

        async def main() -> None:
            task = asyncio.create_task(serve())
            while not server.started:
                if task.done():
                    break
                await asyncio.sleep(0.005)
            if server.started:
                self._started.set_result(None)
            with contextlib.suppress(BaseException):
                await task
            if not self._started.done():
                self._started.set_exception(AppStartError("startup failed"))
            # Whatever the app left running (handlers cut off by kill()) ends with the loop.
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            if rest:
                await asyncio.wait(rest, timeout=2.0)

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # SystemExit from uvicorn on startup failure
            if not self._started.done():
                self._started.set_exception(AppStartError(repr(exc)))
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down cleanly (lifespan shutdown included) and join the thread."""
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def kill(self, timeout: float = 30.0) -> None:
        """Drop every connection and cancel in-flight requests, then end the server."""
        server, loop = self.server, self.loop
        if server is None or loop is None or self._thread is None:
            return

        def abort() -> None:
            for srv in getattr(server, "servers", []):
                srv.close()
            for conn in list(server.server_state.connections):
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.abort()
            for task in list(server.server_state.tasks):
                task.cancel()
            server.should_exit = True

        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(abort)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the app thread did not end within %.0fs after kill()", timeout)
