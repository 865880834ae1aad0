"""@actor wiring through the SDK's `dapr.ext.fastapi.DaprActor` (``/dapr/config``, ``/actors``).

The actor types are registered at start-up with the per-type settings of their @actor
definition (idle timeout, scan interval, drain timeout, reentrancy) and its serializer (default:
`FunchostJSONSerializer`, which keeps JSON verbatim). The runtime registers reminders through
the SDK's `DaprActorGrpcClient` on one persistent channel (``FUNCHOST_ACTOR_CLIENT=grpc``,
default; state transactions go to the HTTP actor state API on kept-alive connections, see
`_actor_http`) or the SDK's HTTP client (``http``). Actor callbacks are answered by `ActorCalls`
(`_actor_asgi`), DaprActor's routes stay for the rest. `actor_proxy()`
builds an `ActorProxy` with the actor type's serializer. `DaprActor`'s own ``/healthz`` route is
removed: the host serves one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any

from funchost.errors import FunchostError
from funchost.plugins import hookimpl

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

    # DaprActor includes its router (with its own /healthz) into the app it is given: give it
    # a scratch app and take its routes, minus /healthz, so the host's health route is the
    # only one.
    actor_app = DaprActor(_FastAPI())
    app.state.funchost_actor_app = actor_app
    router = getattr(actor_app, "_router", None)
    if router is None:  # pragma: no cover - SDK layout changed; fall back to including it
        DaprActor(app)
        return
    taken = [route for route in router.routes if getattr(route, "path", None) != "/healthz"]
    app.router.routes.extend(taken)
    # innermost middleware (added first): the hot actor callbacks skip FastAPI's routing layers
    from funchost.wiring._actor_asgi import ActorCalls

    app.add_middleware(ActorCalls, router=app.router, actor_routes=frozenset(map(id, taken)))


ACTOR_CLIENTS = ("grpc", "http")


_DEFAULT_SERIALIZER: Any = None
_PROXY_FACTORIES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def default_serializer() -> Any:
    """The serializer `@actor` types and `actor_proxy` use unless told otherwise (one instance)."""
    global _DEFAULT_SERIALIZER
    if _DEFAULT_SERIALIZER is None:
        from funchost.wiring._actor_json import FunchostJSONSerializer

        _DEFAULT_SERIALIZER = FunchostJSONSerializer()
    return _DEFAULT_SERIALIZER


def serializer_for(actor_type: str) -> Any:
    """The message serializer registered for ``actor_type`` in this process, else the default."""
    from dapr.actor import ActorRuntime

    manager = getattr(ActorRuntime, "_actor_managers", {}).get(actor_type)
    ctx = getattr(manager, "_runtime_ctx", None)
    found = getattr(ctx, "message_serializer", None)
    return found if found is not None else default_serializer()


def actor_proxy(actor_type: str, actor_id: str, interface: Any, serializer: Any = None) -> Any:
    """An SDK `ActorProxy` that (de)serializes like the actor type's `@actor` registration.

    ``serializer`` overrides it (for an actor type hosted by another app with its own).
    """
    from dapr.actor import ActorId, ActorProxy, ActorProxyFactory

    serializer = serializer or serializer_for(actor_type)
    factory = _PROXY_FACTORIES.get(serializer)
    if factory is None:  # one per serializer: its HTTP client probes the sidecar when built
        factory = _PROXY_FACTORIES[serializer] = ActorProxyFactory(message_serializer=serializer)
    return ActorProxy.create(actor_type, ActorId(str(actor_id)), interface, factory)


def make_actor_client(
    kind: str,
    message_serializer: Any,
    state_serializer: Any,
    channel: Any = None,
    state_http: Any = None,
) -> Any:
    """The SDK actor client the runtime uses for state, reminders and timers.

    ``grpc`` (default): the SDK's `DaprActorGrpcClient` on one persistent channel, a
    `LazyChannel` opened at first use (daprd and the embedded sidecar both serve the unary
    actor RPCs), with state reads and transactions on ``state_http`` (a `StateHttp`) when given
    and the state serializer is the default one (the HTTP API then stores the very bytes the
    RPC would); ``http``: the SDK's
    `DaprActorHttpClient` (one new HTTP connection per request).
    """
    if kind == "http":
        from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient

        return DaprActorHttpClient(message_serializer)
    from funchost.wiring._actor_grpc import GrpcActorClient, LazyChannel

    return GrpcActorClient(
        channel=channel if channel is not None else LazyChannel(),
        message_serializer=message_serializer,
        state_serializer=state_serializer,
        state_http=state_http if state_serializer is default_serializer() else None,
    )


@hookimpl
async def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Register the actor types (before daprd reads ``/dapr/config``)."""
    if not registry.actors:
        return
    from dapr.actor import ActorRuntime

    kind = settings.actor_client.strip().lower()
    if kind not in ACTOR_CLIENTS:
        raise FunchostError(
            f"FUNCHOST_ACTOR_CLIENT={settings.actor_client!r} is not a known actor client: "
            "use 'grpc' (default) or 'http'"
        )
    channel = state_http = None
    if kind == "grpc":
        from funchost.wiring._actor_grpc import LazyChannel
        from funchost.wiring._actor_http import StateHttp, state_endpoint

        channel = LazyChannel()
        endpoint = state_endpoint()
        if endpoint is not None:
            state_http = StateHttp(*endpoint, default_serializer())
    app.state.funchost_actor_channel = channel
    app.state.funchost_actor_state_http = state_http
    ActorRuntime.set_actor_config(actor_config(registry.actors))
    for definition in registry.actors:
        serializer = definition.serializer or default_serializer()
        if kind == "http":
            # The SDK's HTTP actor client probes the sidecar with a blocking call: build it in
            # a thread so an in-process sidecar keeps running meanwhile.
            client = await asyncio.to_thread(make_actor_client, kind, serializer, serializer)
        else:
            client = make_actor_client(kind, serializer, serializer, channel, state_http)
        await ActorRuntime.register_actor(
            definition.target,
            message_serializer=serializer,
            state_serializer=serializer,
            actor_client=client,
        )
    log.info("registered actors (%s client): %s", kind, [a.actor_type for a in registry.actors])


@hookimpl
async def funchost_shutdown(app: FastAPI, registry: Registry, settings: Settings) -> None:
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
    state_http = getattr(app.state, "funchost_actor_state_http", None)
    if state_http is not None:
        app.state.funchost_actor_state_http = None
        state_http.close()
    channel = getattr(app.state, "funchost_actor_channel", None)
    if channel is not None:
        app.state.funchost_actor_channel = None
        await channel.close()
