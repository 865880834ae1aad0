"""The actor runtime of the embedded sidecar: placement-free, single-host virtual actors.

Every actor type the app lists on `GET /dapr/config` is hosted here. An actor is active from its
first call (method, reminder or timer); each call runs in the actor's turn (`TurnLock`); after
`actorIdleTimeout` without calls (checked every `actorScanInterval` of the sidecar clock) the
sidecar calls `DELETE /actors/{type}/{id}` on the app; `stop()` drains every active actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.routing import BaseRoute

from ..app_channel import AppResponse, AppUnavailable
from ..resolution import DEFAULT_NAMESPACE, registry_dir
from ..state.subsystem import StateSubsystem
from ..subsystem import Runtime, Subsystem
from ._http import actor_routes, fast_lane
from ._turns import TurnLock
from .config import ActorsConfig, TypeConfig, parse_config
from .placement import Placement
from .reminders import ReminderService
from .state import ActorStateStore, ComponentActorState, SqliteActorState
from .timers import TimerService

log = logging.getLogger("funchost.sidecar.actors")

REENTRANCY_HEADER = "Dapr-Reentrancy-Id"


class UnknownActorType(LookupError):
    """The app does not host this actor type."""


@dataclass
class ActiveActor:
    """An activated actor: its turn lock and when it was last used."""

    actor_type: str
    actor_id: str
    last_used: float
    lock: TurnLock = field(default_factory=TurnLock)
    calls: int = 0
    removed: bool = False


@lru_cache(maxsize=4096)
def _seg(text: str) -> str:
    return quote(text, safe="")


class ActorsSubsystem(Subsystem):
    """Virtual actors: method calls, state, reminders, timers, idle deactivation, drain."""

    name = "actors"

    def __init__(self, sidecar: Runtime, state_stores: StateSubsystem) -> None:
        super().__init__(sidecar)
        self.state_stores = state_stores
        self.config = ActorsConfig()
        self.clock = sidecar.clock
        # The seam to the configured actor state store (see state.py).
        self.state: ActorStateStore = SqliteActorState(sidecar.store, sidecar.clock)
        self.reminders = ReminderService(sidecar.store, sidecar.clock, self._deliver_reminder)
        self.timers = TimerService(sidecar.clock, self._deliver_timer)
        self.actors: dict[tuple[str, str], ActiveActor] = {}
        self._inflight = 0
        self._deactivating = 0
        self._idle_wake = asyncio.Event()
        # set once the app's /dapr/config was read (or could not be): calls that arrive during
        # start-up wait for it instead of failing with "not hosted"
        self._configured = asyncio.Event()
        self._idle_task: asyncio.Task[None] | None = None
        self.config_error: str | None = None
        config = sidecar.config
        #: types hosted by other apps on this machine (registered sidecars only)
        self.placement = Placement(
            config.app_id,
            config.namespace or DEFAULT_NAMESPACE,
            (Path(config.registry_dir) if config.registry_dir else registry_dir())
            if config.register
            else None,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return actor_routes(self)

    def wrap_asgi(self, app: Any) -> Any:
        """The sidecar's HTTP app with the actor API in front of its router (`fast_lane`)."""
        return fast_lane(self, app)

    async def on_app_ready(self) -> None:
        """Read the app's actor types and settings from `GET /dapr/config`."""
        try:
            await self._read_app_config()
        finally:
            self._configured.set()

    async def await_types(self, actor_type: str) -> None:
        """Wait (bounded) for the app's actor types while the app is being discovered.

        An actor call can reach the sidecar before it has read the app's `/dapr/config` (the
        app serves requests as soon as it listens); it waits for that instead of failing.
        """
        if (
            actor_type in self.config.types
            or self._configured.is_set()
            or self.sidecar.config.app_port is None
        ):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._configured.wait(), timeout=self.sidecar.config.app_ready_timeout
            )

    async def _read_app_config(self) -> None:
        if self.sidecar.app.protocol == "grpc":
            return  # daprd's gRPC app channel has no app config (no actors over gRPC)
        try:
            resp = await self.sidecar.app.request("GET", "/dapr/config", timeout=10.0)
        except AppUnavailable as exc:
            log.warning("actors: cannot read /dapr/config from the app: %s", exc)
            return
        # A (re)started app has no live actor objects: forget the previous activations and their
        # timers (no DELETE: the objects they name are gone with the old process).
        for key, entry in list(self.actors.items()):
            if not entry.calls and not entry.lock.locked():
                entry.removed = True
                del self.actors[key]
                self.timers.drop_actor(*key)
        doc = None
        if resp.status == 200 and resp.body:
            try:
                doc = resp.json()
            except ValueError:
                log.warning("actors: /dapr/config is not JSON: %r", resp.body[:200])
        self.configure(parse_config(doc if isinstance(doc, dict) else None))

    def configure(self, config: ActorsConfig) -> None:
        """Host the given actor types (also used by tests and embedders)."""
        self.config = config
        if config.types:
            self._check_state_store()
            log.info("actors: hosting %s", ", ".join(config.entities))
        self.reminders.set_hosted(frozenset(config.types))
        self.placement.publish(list(config.types))
        if config.types and not self.sidecar.quiesced:
            self.reminders.start(self.sidecar.spawn)
            self.timers.start(self.sidecar.spawn)
            if self._idle_task is None:
                self._idle_task = self.sidecar.spawn(self._idle_loop())
        self._idle_wake.set()

    def _check_state_store(self) -> None:
        """Use the `actorStateStore: "true"` component; daprd refuses actors without one."""
        backend = self.state_stores.actor_api()
        if backend is None:
            self.config_error = (
                "the state store is not configured to use the actor runtime: the app hosts "
                + ", ".join(self.config.entities)
                + ' but no state store component has metadata `actorStateStore: "true"`; add it '
                "to one state store component in your resources folder"
            )
            log.error("actors: %s", self.config_error)
            return
        self.config_error = None
        self.state = ComponentActorState(backend, self.sidecar.config.app_id)

    async def quiesce(self) -> None:
        """Stop timers, reminders and the idle scan (calls from the app still work)."""
        await self.timers.stop()
        await self.reminders.stop()
        if self._idle_task is not None:
            self._idle_task.cancel()
            await asyncio.gather(self._idle_task, return_exceptions=True)
            self._idle_task = None

    async def stop(self) -> None:
        """Quiesce, then deactivate every actor still active (the app channel closes its pool)."""
        await self.quiesce()
        await self.deactivate_all()
        await self.placement.close()

    async def deactivate_all(self) -> None:
        """Deactivate every active actor on the app (`DELETE /actors/...`), within drain_timeout."""
        if self.actors and self.sidecar.app.ready.is_set():
            entries = list(self.actors.values())
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self._deactivate(e, force=True) for e in entries)),
                    timeout=self.config.drain_timeout,
                )
            except TimeoutError:
                log.warning("actors: drain timed out after %ss", self.config.drain_timeout)

    def busy(self) -> bool:
        return bool(
            self._inflight or self._deactivating or self.reminders.busy() or self.timers.busy()
        )

    def metadata_info(self) -> dict[str, Any]:
        counts: dict[str, int] = dict.fromkeys(self.config.types, 0)
        for a_type, _ in self.actors:
            counts[a_type] = counts.get(a_type, 0) + 1
        active = [{"type": t, "count": n} for t, n in sorted(counts.items())]
        return {
            "actors": active,
            "actorRuntime": {
                "runtimeStatus": "RUNNING" if self.config.types else "DISABLED",
                "activeActors": active,
                "hostReady": bool(self.config.types),
                "placement": "embedded (single host)",
            },
        }

    # -- turns -------------------------------------------------------------------------------
    def type_config(self, actor_type: str) -> TypeConfig:
        cfg = self.config.types.get(actor_type)
        if cfg is None:
            raise UnknownActorType(actor_type)
        return cfg

    def unknown_type_message(self, actor_type: str) -> str:
        hosted = ", ".join(self.config.entities) or "none"
        return (
            f"actor instance is missing: actor type {actor_type!r} is not hosted by app "
            f"{self.sidecar.config.app_id!r} (hosted types: {hosted}); register it in the app "
            "(DaprActor.register_actor / @actor) so it appears in GET /dapr/config"
        )

    def activate(self, actor_type: str, actor_id: str) -> ActiveActor:
        """Mark an actor active (it will be deactivated when idle)."""
        key = (actor_type, actor_id)
        entry = self.actors.get(key)
        if entry is None:
            entry = ActiveActor(actor_type, actor_id, self.clock.time())
            self.actors[key] = entry
            self._idle_wake.set()
        return entry

    async def _enter(
        self, actor_type: str, actor_id: str, reentrancy_id: str | None, max_depth: int | None
    ) -> ActiveActor:
        """Enter the actor's turn (activating it if needed); `_leave` ends it."""
        self._inflight += 1
        try:
            while True:
                entry = self.activate(actor_type, actor_id)
                entry.calls += 1
                try:
                    await entry.lock.acquire(reentrancy_id, max_depth)
                except BaseException:
                    entry.calls -= 1
                    raise
                if entry.removed:
                    entry.calls -= 1
                    entry.lock.release()
                    continue
                return entry
        except BaseException:
            self._inflight -= 1
            raise

    def _leave(self, entry: ActiveActor) -> None:
        entry.calls -= 1
        entry.last_used = self.clock.time()
        entry.lock.release()
        self._inflight -= 1

    @asynccontextmanager
    async def turn(
        self,
        actor_type: str,
        actor_id: str,
        reentrancy_id: str | None = None,
        max_depth: int | None = None,
    ) -> AsyncIterator[ActiveActor]:
        """Run a block as one turn of the actor (activating it if needed)."""
        entry = await self._enter(actor_type, actor_id, reentrancy_id, max_depth)
        try:
            yield entry
        finally:
            self._leave(entry)

    async def invoke(
        self,
        actor_type: str,
        actor_id: str,
        method: str,
        body: bytes,
        headers: Mapping[str, str],
        reentrancy_id: str | None,
    ) -> AppResponse:
        """Call an actor method in the actor's turn; returns the app's response as is."""
        cfg = self.type_config(actor_type)
        rid: str | None = None
        hdrs = {"Content-Type": headers.get("content-type") or "application/json"}
        for name in ("traceparent", "tracestate"):
            if name in headers:
                hdrs[name] = headers[name]
        if cfg.reentrancy:
            rid = reentrancy_id or uuid.uuid4().hex
            hdrs[REENTRANCY_HEADER] = rid
        path = f"/actors/{_seg(actor_type)}/{_seg(actor_id)}/method/{_seg(method)}"
        entry = await self._enter(actor_type, actor_id, rid, cfg.max_stack_depth if rid else None)
        try:
            return await self._put(path, body, hdrs)
        finally:
            self._leave(entry)

    async def _put(self, path: str, body: bytes, headers: dict[str, str]) -> AppResponse:
        """PUT to the app on the kept-alive pool pub/sub delivery uses too."""
        return await self.sidecar.app.fast_request("PUT", path, body, headers)

    async def _deliver(
        self, kind: str, actor_type: str, actor_id: str, name: str, body: bytes
    ) -> AppResponse:
        path = f"/actors/{_seg(actor_type)}/{_seg(actor_id)}/method/{kind}/{_seg(name)}"
        async with self.turn(actor_type, actor_id):
            return await self._put(path, body, {"Content-Type": "application/json"})

    async def _deliver_reminder(
        self, actor_type: str, actor_id: str, name: str, body: bytes
    ) -> AppResponse:
        return await self._deliver("remind", actor_type, actor_id, name, body)

    async def _deliver_timer(
        self, actor_type: str, actor_id: str, name: str, body: bytes
    ) -> AppResponse:
        if (actor_type, actor_id) not in self.actors:  # deactivated meanwhile: timer is gone
            self.timers.drop_actor(actor_type, actor_id)
            return AppResponse(200)
        return await self._deliver("timer", actor_type, actor_id, name, body)

    # -- deactivation ------------------------------------------------------------------------
    async def _deactivate(self, entry: ActiveActor, force: bool = False) -> None:
        self._deactivating += 1
        try:
            await entry.lock.acquire()
            try:
                if entry.removed:
                    return
                idle = self.config.types.get(entry.actor_type, self.config.defaults).idle_timeout
                if not force and (entry.calls or self.clock.time() - entry.last_used < idle):
                    return
                entry.removed = True
                self.actors.pop((entry.actor_type, entry.actor_id), None)
                self.timers.drop_actor(entry.actor_type, entry.actor_id)
                path = f"/actors/{_seg(entry.actor_type)}/{_seg(entry.actor_id)}"
                try:
                    resp = await self.sidecar.app.request("DELETE", path, timeout=30.0)
                    if resp.status >= 300:
                        log.warning(
                            "actors: deactivating %s/%s: app answered %s: %s",
                            entry.actor_type,
                            entry.actor_id,
                            resp.status,
                            resp.body[:200],
                        )
                except AppUnavailable as exc:
                    log.warning(
                        "actors: deactivating %s/%s: %s", entry.actor_type, entry.actor_id, exc
                    )
            finally:
                entry.lock.release()
        finally:
            self._deactivating -= 1

    async def _idle_loop(self) -> None:
        origin = self.clock.time()
        while True:
            self._idle_wake.clear()
            now = self.clock.time()
            expired: list[ActiveActor] = []
            earliest: float | None = None
            for entry in list(self.actors.values()):
                idle = self.config.types.get(entry.actor_type, self.config.defaults).idle_timeout
                due = entry.last_used + idle
                if not entry.calls and due <= now:
                    expired.append(entry)
                elif earliest is None or due < earliest:
                    earliest = due
            if expired:
                await asyncio.gather(*(self._deactivate(e) for e in expired))
                continue
            if earliest is None:
                deadline = now + 3600.0
            else:
                interval = self.config.scan_interval
                ticks = max(1, -int(-(max(earliest, now) - origin) // interval))
                deadline = origin + ticks * interval
                if deadline <= now:
                    deadline = now + interval
            await self.clock.sleep_until(deadline, wake=self._idle_wake)
