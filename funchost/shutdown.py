"""Graceful shutdown: on SIGTERM stop taking new work, let in-flight work finish, then exit.

Kubernetes sends SIGTERM to the app and its daprd sidecar at the same time and kills both after
`terminationGracePeriodSeconds`. funchost drains in three steps:

1. `Drain.begin()` (called by `DrainingServer` on the first SIGTERM/SIGINT): from now on every new
   HTTP request gets `503` with `Retry-After` (`DrainMiddleware`). daprd's app health check
   (`/healthz`, also 503 now) marks the app unhealthy, so daprd stops delivering events, binding
   calls and invocations and unregisters the actor types (their actors move to other replicas).
   `on_drain` callbacks run (e.g. stop the workflow worker: it finishes in-flight activities).
2. In-flight work (HTTP handlers and actor turns via the middleware, anything wrapped with
   `Drain.track()` / `Drain.wrap()`) runs to completion, for at most `grace` seconds.
3. `before_exit` runs (`funchost run`: the embedded sidecar deactivates the active actors on the
   still-listening app; `DELETE /actors/{type}/{id}` passes the middleware while draining).
4. uvicorn shuts down (lifespan shutdown stops the runtimes) and the process exits; the embedded
   sidecar closes after it.

Under `funchost run` the embedded sidecar also stops dispatching (deliveries, reminders, timers,
jobs, crons, workflow timers) in step 1 (`on_drain(sidecar.quiesce)`), as daprd does next to an
app in a pod; its API stays up until the app has exited, so draining handlers can save state.

Wiring: `install_drain(app, grace)` in `create_app`, and `DrainingServer(config)` in place of
`uvicorn.Server(config)` in the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, TypeVar, cast

import uvicorn

from .errors import ConfigError, FunchostError

log = logging.getLogger("funchost.shutdown")

F = TypeVar("F", bound=Callable[..., Any])
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

DEFAULT_GRACE = 25.0
"""Seconds to wait for in-flight work; keep it below the pod's terminationGracePeriodSeconds."""


class Draining(FunchostError):
    """Raised by `Drain.track()` when new work arrives after draining has begun."""


class Drain:
    """Counts in-flight work, refuses new work once draining, and waits for the rest to finish."""

    def __init__(self, grace: float = DEFAULT_GRACE, retry_after: int = 5) -> None:
        self.grace = grace
        self.retry_after = retry_after
        self._cond = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._draining = False
        self._began_at: float | None = None
        self._callbacks: list[Callable[[], Any]] = []
        self._callback_threads: list[threading.Thread] = []

    @property
    def draining(self) -> bool:
        """True once `begin()` was called."""
        return self._draining

    @property
    def in_flight(self) -> int:
        """Number of units of work currently running."""
        with self._cond:
            return sum(self._in_flight.values())

    def snapshot(self) -> dict[str, int]:
        """In-flight work by kind (e.g. {"http": 2, "activity": 1})."""
        with self._cond:
            return {k: v for k, v in self._in_flight.items() if v}

    def on_drain(self, callback: Callable[[], Any]) -> None:
        """Run `callback()` (sync, in its own thread) when draining begins; `wait` waits for it."""
        self._callbacks.append(callback)

    def begin(self) -> None:
        """Start draining (idempotent, thread-safe, callable from a signal handler)."""
        with self._cond:
            if self._draining:
                return
            self._draining = True
            self._began_at = time.monotonic()
            self._cond.notify_all()
        log.info("draining: refusing new work; %s in flight", self.snapshot() or "nothing")
        for callback in self._callbacks:
            thread = threading.Thread(
                target=self._run_callback, args=(callback,), name="funchost-drain", daemon=True
            )
            self._callback_threads.append(thread)
            thread.start()

    @staticmethod
    def _run_callback(callback: Callable[[], Any]) -> None:
        try:
            callback()
        except Exception:
            log.exception("drain callback %r failed", callback)

    @contextlib.contextmanager
    def track(self, kind: str = "work", *, refuse: bool = True) -> Iterator[None]:
        """Count the enclosed block as in-flight work; raise `Draining` if refused while draining.

        Use `refuse=False` for work that belongs to something already accepted (an activity of a
        running workflow): it is counted but never refused.
        """
        if not self.acquire(kind, refuse=refuse):
            raise Draining(f"funchost is shutting down: new {kind} refused, retry elsewhere")
        try:
            yield
        finally:
            self.release(kind)

    def acquire(self, kind: str = "work", *, refuse: bool = True) -> bool:
        """Count one unit of `kind` as in flight; False (nothing counted) if refused."""
        with self._cond:
            if refuse and self._draining:
                return False
            self._in_flight[kind] = self._in_flight.get(kind, 0) + 1
            return True

    def release(self, kind: str = "work") -> None:
        """End one unit of work counted by `acquire`."""
        with self._cond:
            self._in_flight[kind] -= 1
            self._cond.notify_all()

    def wrap(self, fn: F, kind: str = "work") -> F:
        """`fn` (sync or async) counted as in-flight work while it runs (never refused)."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.track(kind, refuse=False):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.track(kind, refuse=False):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def wait_sync(self, timeout: float | None = None) -> bool:
        """Block until nothing is in flight and drain callbacks returned; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while sum(self._in_flight.values()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        for thread in self._callback_threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
            if thread.is_alive():
                return False
        return True

    async def wait(self, timeout: float | None = None) -> bool:
        """Async `wait_sync` (runs the blocking wait in a worker thread)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.wait_sync, timeout)


class DrainMiddleware:
    """ASGI middleware: tracks every HTTP request; answers 503 once the drain has begun."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.drain.acquire("http", refuse=not _is_deactivation(scope)):
            message = "funchost is shutting down: request refused, retry on another replica"
            await _refuse(send, message, self.drain.retry_after)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.release("http")


def _is_deactivation(scope: dict[str, Any]) -> bool:
    """The sidecar deactivating an actor: part of the shutdown, never refused."""
    return scope.get("method") == "DELETE" and str(scope.get("path", "")).startswith("/actors/")


async def _refuse(send: Any, message: str, retry_after: int) -> None:
    body = json.dumps({"errorCode": "ERR_APP_DRAINING", "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_drain(app: Any, grace: float | None = None) -> Drain:
    """Add `DrainMiddleware` to a FastAPI/Starlette `app`; keep the `Drain` on `app.state.drain`."""
    drain = Drain(grace=grace_from_env() if grace is None else grace)
    app.add_middleware(DrainMiddleware, drain=drain)
    app.state.drain = drain
    return drain


def get_drain(app: Any) -> Drain | None:
    """The `Drain` installed on `app` by `install_drain`, if any."""
    state = getattr(app, "state", None)
    drain = getattr(state, "drain", None)
    return drain if isinstance(drain, Drain) else None


def grace_from_env() -> float:
    """``FUNCHOST_SHUTDOWN_GRACE`` (seconds), or `DEFAULT_GRACE`."""
    raw = os.environ.get("FUNCHOST_SHUTDOWN_GRACE", "").strip()
    if not raw:
        return DEFAULT_GRACE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(
            f"FUNCHOST_SHUTDOWN_GRACE={raw!r} is invalid: use a number of seconds, e.g. 25"
        )
    return value


class DrainingServer(uvicorn.Server):
    """uvicorn server whose first SIGTERM/SIGINT drains before shutting down; a second forces exit.

    The `Drain` comes from the argument or from `config.app.state.drain` (see `install_drain`);
    an app without one is wrapped in a `DrainMiddleware` here (grace: FUNCHOST_SHUTDOWN_GRACE).
    `before_exit()` (sync, run in a worker thread) runs after the drain, while the app still
    listens (e.g. the embedded sidecar's `deactivate_actors`). `on_serving(server)` runs on the
    server's loop once it listens, `on_stopping(server)` when it stops listening (`funchost run`
    attaches and closes the in-process app channel there).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        drain: Drain | None = None,
        before_exit: Callable[[], Any] | None = None,
        on_serving: Callable[[DrainingServer], Any] | None = None,
        on_stopping: Callable[[DrainingServer], Any] | None = None,
    ) -> None:
        super().__init__(config)
        self.before_exit = before_exit
        self.on_serving = on_serving
        self.on_stopping = on_stopping
        found = drain or get_drain(config.app)
        if found is None:
            found = Drain(grace=grace_from_env())
            if not isinstance(config.app, str):
                config.app = DrainMiddleware(cast(Any, config.app), found)
        self.drain = found
        if config.timeout_graceful_shutdown is None:
            # Draining already waited for in-flight work; whatever is left after the grace
            # period is cancelled quickly so the pod stops before SIGKILL.
            config.timeout_graceful_shutdown = 2
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._drain_requested = False  # a signal asked for the drain (begun on the loop)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's signal capture, without re-raising the signal once shut down.

        uvicorn re-raises a captured SIGTERM after its graceful shutdown, which kills the process
        before the caller's `finally` (the embedded sidecar's stop and database checkpoint) runs.
        The drain already was the graceful shutdown: `run()` returns and the process exits 0.
        """
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    async def serve(self, sockets: Any = None) -> None:
        """Serve until drained (see class docstring)."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.on_serving is not None:
            self.on_serving(self)

    async def shutdown(self, sockets: Any = None) -> None:
        if self.on_stopping is not None:
            self.on_stopping(self)
        await super().shutdown(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: begin draining; a further signal: exit now.

        A signal handler runs between two bytecodes of whatever the main thread was doing (it
        may hold a lock of `threading` or of a log handler), so it only schedules the drain on
        the loop: `Drain.begin()` logs and starts threads there.
        """
        draining = self._drain_requested or self.drain.draining
        if draining or self._loop is None:
            super().handle_exit(sig, frame)
            self.force_exit = self.force_exit or draining
            return
        self._drain_requested = True
        self._loop.call_soon_threadsafe(self._start_drain, sig)

    def _start_drain(self, sig: int) -> None:
        self.drain.begin()
        if self._loop is not None:  # set by serve() before signals are captured
            self._drain_task = self._loop.create_task(self._finish_drain(sig))

    async def _finish_drain(self, sig: int) -> None:
        done = await self.drain.wait(self.drain.grace)
        if not done:
            log.warning(
                "grace period of %ss over with work still in flight (%s): shutting down anyway",
                self.drain.grace,
                self.drain.snapshot(),
            )
        if self.before_exit is not None:
            try:
                await asyncio.to_thread(self.before_exit)
            except Exception:
                log.exception("before_exit %r failed", self.before_exit)
        super().handle_exit(sig, None)
