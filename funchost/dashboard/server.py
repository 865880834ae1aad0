"""Serving the dashboard: in a thread next to `funchost run`, or alone (`funchost dashboard`).

A taken port never stops `funchost run`: `start_in_thread` returns None with a one-line reason
and the app runs on without its dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

__all__ = ["DashboardThread", "DeferredDashboard", "bind", "start_in_thread"]


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0 = any free port); OSError naming the port when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"dashboard port {port} on {host} is not available ({exc.strerror or exc})"
        ) from None
    sock.set_inheritable(True)
    return sock


_THREAD = "funchost-dashboard"


def _not_the_dashboards_info(record: logging.LogRecord) -> bool:
    # uvicorn's loggers are shared with the app's server: drop the dashboard thread's own
    # start/stop lines so each appears once, keep its warnings and errors
    return record.threadName != _THREAD or record.levelno >= logging.WARNING


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: the process that hosts it owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DashboardThread:
    """The dashboard served by uvicorn on its own event loop in a daemon thread."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            app, log_level="warning", log_config=None, access_log=False, lifespan="on"
        )
        self.server = _QuietServer(config)
        self.thread = threading.Thread(target=self._run, name=_THREAD, daemon=True)
        uvicorn_log = logging.getLogger("uvicorn.error")
        if _not_the_dashboards_info not in uvicorn_log.filters:
            uvicorn_log.addFilter(_not_the_dashboards_info)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app: Any, host: str, port: int) -> tuple[DashboardThread | None, str]:
    """Serve `app` on host:port in a thread: (the thread, its URL) or (None, why not)."""
    try:
        sock = bind(host, port)
    except OSError as exc:
        return None, str(exc)
    thread = DashboardThread(app, sock)
    thread.start()
    return thread, thread.url


class DeferredDashboard:
    """A dashboard whose port is bound (and listening) at once, served from `start()` on.

    `funchost run` calls `start()` once the app answers; the dashboard is then built and served
    (~0.1 s of imports, ~2 MB, a thread with its event loop) when its first connection arrives:
    a process nobody looks at does not hold it, and a browser that connects earlier waits in
    the listen backlog. `stop()` before that closes the port, and it never serves.
    """

    def __init__(self, sock: socket.socket, build: Callable[[], Any]) -> None:
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        sock.listen(2048)
        self._build = build
        self._lock = threading.Lock()
        self._thread: DashboardThread | None = None
        self._waiter: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()  # stop() wakes the waiter
        self._stopped = False

    def start(self) -> None:
        """Serve the dashboard from its first connection on (once; never after `stop()`)."""
        with self._lock:
            if self._stopped or self._waiter is not None:
                return
            self._waiter = threading.Thread(
                target=self._serve_when_connected, name=f"{_THREAD}-waiter", daemon=True
            )
            self._waiter.start()

    def _serve_when_connected(self) -> None:
        import select

        try:
            readable, _, _ = select.select([self.sock, self._wake_r], [], [])
        except (OSError, ValueError):  # closed by stop()
            return
        with self._lock:
            if self._stopped or self.sock not in readable:
                return
            try:
                self._thread = DashboardThread(self._build(), self.sock)
                self._thread.start()
            except Exception:  # said once; the port closes rather than leave browsers waiting
                logging.getLogger("funchost.dashboard").exception(
                    "the dashboard could not start: running without it"
                )
                self._thread = None
                self.sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            thread, waiter = self._thread, self._waiter
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if waiter is not None:
            waiter.join(timeout)
        if thread is not None:
            thread.stop(timeout)
        else:
            self.sock.close()
        self._wake_r.close()
        self._wake_w.close()
