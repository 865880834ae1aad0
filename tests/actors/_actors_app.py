"""A DaprActor FastAPI app for the actor tests (also run as a subprocess by the kill -9 test)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from dapr.actor import Actor, ActorInterface, ActorProxy, ActorProxyFactory, Remindable, actormethod
from dapr.actor.runtime.config import ActorReentrancyConfig, ActorRuntimeConfig
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI


class Recorder:
    """What the actors did, readable from the test thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[Any, ...]] = []
        self.active: dict[str, int] = defaultdict(int)
        self.overlaps = 0
        self.max_parallel = 0
        self.parallel = 0
        self.file: str | None = None

    def add(self, *event: Any) -> None:
        with self.lock:
            self.events.append(event)
        if self.file:
            with open(self.file, "a") as fh:
                fh.write(json.dumps([time.time(), *event], default=str) + "\n")

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [e for e in self.events if e[0] == kind]

    def enter(self, actor_id: str) -> None:
        with self.lock:
            self.active[actor_id] += 1
            if self.active[actor_id] > 1:
                self.overlaps += 1
            self.parallel += 1
            self.max_parallel = max(self.max_parallel, self.parallel)

    def exit(self, actor_id: str) -> None:
        with self.lock:
            self.active[actor_id] -= 1
            self.parallel -= 1


REC = Recorder()
GATE: dict[str, Any] = {"want": 0, "seen": set(), "event": None}


class CounterInterface(ActorInterface):
    @actormethod(name="Increment")
    async def increment(self, by: int) -> int: ...

    @actormethod(name="Get")
    async def get(self) -> int: ...

    @actormethod(name="SetReminder")
    async def set_reminder(self, spec: dict) -> None: ...

    @actormethod(name="DropReminder")
    async def drop_reminder(self, name: str) -> None: ...

    @actormethod(name="SetTimer")
    async def set_timer(self, spec: dict) -> None: ...

    @actormethod(name="Fail")
    async def fail(self) -> None: ...

    @actormethod(name="CallSelf")
    async def call_self(self, depth: int) -> int: ...

    @actormethod(name="Rendezvous")
    async def rendezvous(self) -> int: ...


def _td(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


class CounterActor(Actor, CounterInterface, Remindable):
    """Counts, sets reminders/timers, calls itself (reentrancy), records enter/exit."""

    async def _on_activate(self) -> None:
        REC.add("activate", self.id.id)

    async def _on_deactivate(self) -> None:
        REC.add("deactivate", self.id.id)

    async def increment(self, by: int) -> int:
        REC.enter(self.id.id)
        try:
            _, current = await self._state_manager.try_get_state("count")
            await asyncio.sleep(0.001)  # let other calls interleave if the sidecar allowed it
            value = (current or 0) + by
            await self._state_manager.set_state("count", value)
            await self._state_manager.save_state()
            return value
        finally:
            REC.exit(self.id.id)

    async def get(self) -> int:
        _, current = await self._state_manager.try_get_state("count")
        return current or 0

    async def set_reminder(self, spec: dict) -> None:
        await self.register_reminder(
            spec["name"],
            spec.get("data", "").encode(),
            _td(spec.get("due", 0)),
            _td(spec.get("period")),
            _td(spec.get("ttl")),
        )

    async def drop_reminder(self, name: str) -> None:
        await self.unregister_reminder(name)

    async def receive_reminder(self, name, state, due_time, period, ttl=None) -> None:
        REC.add("reminder", self.id.id, name, state.decode())

    async def set_timer(self, spec: dict) -> None:
        await self.register_timer(
            spec["name"],
            self.on_timer,
            spec.get("data"),
            _td(spec.get("due", 0)),
            _td(spec.get("period", 0)),
        )

    async def on_timer(self, data: Any) -> None:
        REC.add("timer", self.id.id, data)

    async def fail(self) -> None:
        raise RuntimeError("boom from the actor")

    async def call_self(self, depth: int) -> int:
        REC.add("call_self", self.id.id, depth)
        if depth <= 0:
            return 1
        proxy = ActorProxy.create(
            "CounterActor", self.id, CounterInterface, actor_proxy_factory=ActorProxyFactory()
        )
        return 1 + await proxy.CallSelf(depth - 1)

    async def rendezvous(self) -> int:
        """Wait until GATE["want"] distinct ids are inside at once (deadlocks if serial)."""
        GATE["seen"].add(self.id.id)
        if len(GATE["seen"]) >= GATE["want"]:
            GATE["event"].set()
        await asyncio.wait_for(GATE["event"].wait(), timeout=15)
        return len(GATE["seen"])


def build_app(
    idle: float = 3600, scan: float = 30, reentrancy: bool = False, max_depth: int = 32
) -> FastAPI:
    """A FastAPI app hosting CounterActor with the given runtime config."""
    ActorRuntime._actor_managers = {}
    ActorRuntime._actor_managers_lock = asyncio.Lock()
    ActorRuntime.set_actor_config(
        ActorRuntimeConfig(
            actor_idle_timeout=timedelta(seconds=idle),
            actor_scan_interval=timedelta(seconds=scan),
            reentrancy=ActorReentrancyConfig(enabled=True, maxStackDepth=max_depth)
            if reentrancy
            else None,
        )
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        GATE["event"] = asyncio.Event()
        GATE["seen"] = set()
        await actor.register_actor(CounterActor)
        yield

    app = FastAPI(lifespan=lifespan)
    actor = DaprActor(app)
    return app


class AppServer:
    """Runs the app on uvicorn in a daemon thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("actor test app did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
