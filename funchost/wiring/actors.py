"""@actor wiring through the SDK's `dapr.ext.fastapi.DaprActor` (``/dapr/config``, ``/actors``).

The actor types are registered at start-up with the per-type settings of their @actor
definition (idle timeout, scan interval, drain timeout, reentrancy). `DaprActor`'s own
``/healthz`` route is removed: the host serves one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from funchost.plugins import hookimpl
from funchost.wiring._common import host_of

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost.registry import Registry
    from funchost.settings import Settings
    from funchost.triggers import ActorDef

log = logging.getLogger("funchost.actors")


def actor_config(actors: list[ActorDef]) -> Any:
    """The `ActorRuntimeConfig` for the registered actor types."""
    from datetime import timedelta

    from dapr.actor.runtime.config import (
        ActorReentrancyConfig,
        ActorRuntimeConfig,
        ActorTypeConfig,
    )

    def reentrancy(a: ActorDef) -> Any:
        return ActorReentrancyConfig(enabled=True, maxStackDepth=a.max_stack_depth)

    all_reentrant = bool(actors) and all(a.reentrancy for a in actors)
    types = [
        ActorTypeConfig(
            a.actor_type,
            actor_idle_timeout=a.idle_timeout,
            actor_scan_interval=a.scan_interval,
            drain_ongoing_call_timeout=a.drain_timeout,
            reentrancy=reentrancy(a) if a.reentrancy else None,
        )
        for a in actors
        if a.idle_timeout or a.scan_interval or a.drain_timeout or a.reentrancy
    ]
    return ActorRuntimeConfig(
        actor_idle_timeout=timedelta(hours=1),
        actor_scan_interval=timedelta(seconds=30),
        reentrancy=reentrancy(actors[0]) if all_reentrant else None,
        actor_type_configs=types,
    )


@hookimpl
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Mount `DaprActor` when the registry has actors."""
    if not registry.actors:
        return
    from dapr.ext.fastapi import DaprActor
    from fastapi import FastAPI as _FastAPI

    host = host_of(app)
    # DaprActor includes its router (with its own /healthz) into the app it is given: give it
    # a scratch app and take its routes, minus /healthz, so the host's health route is the
    # only one.
    actor_app = DaprActor(_FastAPI())
    host.actor_app = actor_app
    router = getattr(actor_app, "_router", None)
    if router is None:  # pragma: no cover - SDK layout changed; fall back to including it
        DaprActor(app)
        return
    for route in router.routes:
        if getattr(route, "path", None) != "/healthz":
            app.router.routes.append(route)


@hookimpl
async def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Register the actor types (before daprd reads ``/dapr/config``)."""
    if not registry.actors:
        return
    from dapr.actor import ActorRuntime
    from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient
    from dapr.serializers import DefaultJSONSerializer

    ActorRuntime.set_actor_config(actor_config(registry.actors))
    for definition in registry.actors:
        # The SDK's HTTP actor client probes the sidecar with a blocking call: build it in a
        # thread so an in-process sidecar keeps running meanwhile.
        client = await asyncio.to_thread(DaprActorHttpClient, DefaultJSONSerializer())
        await ActorRuntime.register_actor(definition.target, actor_client=client)
    log.info("registered actors: %s", [a.actor_type for a in registry.actors])


@hookimpl
def funchost_shutdown(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Forget this app's actor types: the SDK's `ActorRuntime` is process-global, and a later
    app of the same process (tests) must not report them in its ``/dapr/config``."""
    if not registry.actors:
        return
    from dapr.actor import ActorRuntime

    managers = getattr(ActorRuntime, "_actor_managers", None)
    if isinstance(managers, dict):
        for definition in registry.actors:
            managers.pop(definition.actor_type, None)
        ActorRuntime.get_actor_config().update_entities(list(managers))
