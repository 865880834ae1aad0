"""The embedded sidecar and the app, in one process (for `funchost.testing`).

`EmbeddedStack` runs a `Sidecar` in a `SidecarThread` and the app in an `AppServer` thread, both on
loopback ports chosen up front, and knows how to settle, advance the virtual clock, kill both
abruptly and start them again on the same SQLite file. It is used in-process by `LocalRuntime`
and inside the child process of `mode="subprocess"` (see `funchost.testing.subprocess_stack`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funchost.testing.appserver import (
    AppServer,
    AppStartError,
    ASGIApp,
    stack_env,
    wait_for_host_startup,
)
from funchost.testing.inspection import dead_letters, instrument, outbox, send_binding

log = logging.getLogger("funchost.testing")


@dataclass
class StackConfig:
    """Everything needed to (re)start the sidecar + app pair."""

    app_factory: Callable[[], ASGIApp]
    db_path: Path
    app_id: str = "app"
    resources: list[Path] = field(default_factory=list)
    virtual: bool = True
    clock_start: float | None = None
    http_port: int = 0
    grpc_port: int = 0
    app_port: int = 0
    ready_timeout: float = 60.0
    log_level: str = "warning"
    retry_ports: bool = True
    extra_subsystems: list[Callable[[Any], Any]] = field(default_factory=list)

    def pick_ports(self) -> None:
        """Choose free loopback ports for every port still 0."""
        from funchost.sidecar import free_port

        self.http_port = self.http_port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        self.app_port = self.app_port or free_port()


async def settle(sidecar: Any, inflight: Callable[[], int], timeout: float = 30.0) -> None:
    """On the sidecar loop: wait until the sidecar is idle and the app handles no request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < 2:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(
                f"still busy after {timeout:.0f}s: the app is handling {inflight()} request(s)"
            )
        await sidecar.idle(timeout=remaining)
        if inflight():
            quiet = 0
            await asyncio.sleep(0.002)
        else:
            quiet += 1
            await asyncio.sleep(0)


async def _app_quiet(inflight: Callable[[], int], timeout: float = 25.0) -> None:
    """Wait (bounded) until the app handles no request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while inflight() and loop.time() < deadline:
        await asyncio.sleep(0.005)


async def hard_kill(sidecar: Any) -> None:
    """On the sidecar loop: die as kill -9 would, without running any subsystem's stop().

    The store is closed first, so nothing happening after this instant reaches the database;
    connections are dropped and every task is cancelled.
    """
    sidecar.stopping = True
    sidecar.store.close()
    grpc_server = getattr(sidecar, "_grpc", None)
    if grpc_server is not None:
        with contextlib.suppress(Exception):
            await grpc_server.stop(None)
    http = getattr(sidecar, "_http", None)
    if http is not None:
        for srv in getattr(http, "servers", []):
            srv.close()
        for conn in list(http.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        http.force_exit = True
        http.should_exit = True
    with contextlib.suppress(Exception):
        await sidecar.app.close()
    me = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not me]
    for task in rest:
        task.cancel()
    if rest:
        await asyncio.wait(rest, timeout=2.0)


class EmbeddedStack:
    """The embedded sidecar (own thread and loop) plus the app (own thread and loop)."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.sidecar: Any = None
        self.thread: Any = None
        self.app: AppServer | None = None
        self.clock: Any = None
        self.dead_letter_records: list[dict[str, Any]] = []

    # -- lifecycle (blocking; LocalRuntime calls these through asyncio.to_thread) -------------

    def env(self) -> dict[str, str]:
        """The environment the app (and the test's SDK clients) need."""
        c = self.config
        return stack_env(c.app_id, c.http_port, c.grpc_port, c.app_port)

    def start(self) -> None:
        """Start the sidecar, then the app; return once the sidecar discovered the app."""
        for attempt in range(3):
            try:
                self._start_once()
                return
            except (OSError, AppStartError) as exc:
                in_use = isinstance(exc, OSError) or "address already in use" in str(exc).lower()
                self._teardown_after_failure()
                if not in_use or not self.config.retry_ports or attempt == 2:
                    raise
                log.info("a port was taken (%s); retrying on fresh ports", exc)
                self.config.http_port = self.config.grpc_port = self.config.app_port = 0

    def _start_once(self) -> None:
        from funchost.sidecar import Clock, Sidecar, SidecarConfig, SidecarThread, VirtualClock

        cfg = self.config
        cfg.pick_ports()
        self.clock = VirtualClock(cfg.clock_start) if cfg.virtual else Clock()
        sidecar = Sidecar(
            SidecarConfig(
                app_id=cfg.app_id,
                app_port=cfg.app_port,
                http_port=cfg.http_port,
                grpc_port=cfg.grpc_port,
                resources_paths=list(cfg.resources),
                db_path=cfg.db_path,
                app_ready_timeout=cfg.ready_timeout,
                log_level=cfg.log_level,
            ),
            clock=self.clock,
        )
        instrument(sidecar, self.dead_letter_records)
        for factory in cfg.extra_subsystems:
            sub = factory(sidecar)
            sidecar.subsystems[sub.name] = sub
        self.sidecar = sidecar
        self.thread = SidecarThread(sidecar)
        self.thread.start(timeout=cfg.ready_timeout)
        os.environ.update(self.env())
        app = cfg.app_factory()
        self.app = AppServer(app, cfg.app_port, log_level=cfg.log_level)
        self.app.start(timeout=cfg.ready_timeout)
        wait_for_host_startup(app, cfg.ready_timeout)
        self.thread.call(sidecar.wait_app_ready(cfg.ready_timeout), timeout=cfg.ready_timeout + 5)
        if not sidecar.app.ready.is_set():
            raise AppStartError(
                f"the sidecar could not reach the app on port {cfg.app_port} "
                f"(GET {sidecar.config.app_health_path} never answered)"
            )

    def _teardown_after_failure(self) -> None:
        with contextlib.suppress(Exception):
            if self.app is not None:
                self.app.kill(timeout=10)
        with contextlib.suppress(Exception):
            if self.thread is not None:
                self.thread.stop()
        self.app = None
        self.thread = None

    def stop(self) -> None:
        """Stop cleanly, as `funchost run` does: the sidecar stops dispatching, the app's requests
        in flight finish, the sidecar deactivates actors on the app, the app exits (lifespan
        shutdown), then the sidecar closes."""
        thread = self.thread
        if thread is not None and self.app is not None:
            with contextlib.suppress(Exception):
                thread.quiesce()
                thread.call(_app_quiet(self.inflight), timeout=30.0)
                thread.deactivate_actors()
        if self.app is not None:
            self.app.stop()
        if thread is not None:
            thread.stop()

    def kill(self) -> None:
        """Kill the sidecar then the app abruptly (no flush, connections dropped)."""
        thread = self.thread
        if thread is not None and thread.loop is not None and thread.loop.is_running():
            with contextlib.suppress(Exception):
                thread.call(hard_kill(self.sidecar), timeout=10)
            with contextlib.suppress(RuntimeError):
                thread.loop.call_soon_threadsafe(thread.loop.stop)
            if thread._thread is not None:
                thread._thread.join(10)
        if self.app is not None:
            self.app.kill()

    def restart_after_crash(self) -> None:
        """kill() then start() on the same database, ports and virtual time."""
        now = self.clock.time() if self.clock is not None else None
        self.kill()
        if self.config.virtual:
            self.config.clock_start = now
        self.start()

    # -- test operations (async, from any loop) ------------------------------------------------

    def inflight(self) -> int:
        return self.app.inflight if self.app is not None else 0

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until the sidecar and the app have nothing in flight."""
        await self.thread.acall(settle(self.sidecar, self.inflight, timeout))

    async def advance(self, seconds: float) -> float:
        """Advance the virtual clock on the sidecar loop, then settle; returns the new time."""

        async def step() -> float:
            await self.clock.advance(seconds)
            await settle(self.sidecar, self.inflight)
            return float(self.clock.time())

        return float(await self.thread.acall(step()))

    def now(self) -> float:
        return float(self.clock.time())

    async def dead_letters(self, topic: str) -> list[Any]:
        return list(await self.thread.acall(dead_letters(self.sidecar, topic)))

    async def outbox(self, binding: str) -> list[Any]:
        return list(await self.thread.acall(outbox(self.sidecar, binding)))

    async def send_binding(self, name: str, data: Any, metadata: dict[str, str]) -> Any:
        return await self.thread.acall(send_binding(self.sidecar, name, data, metadata))
