"""@config_change wiring: one configuration subscription per store, and daprd's callback.

Start-up: once the sidecar is healthy, the app subscribes once per store, with the union of the
watched keys (every key when one function watches all), through Dapr's HTTP API
``GET /v1.0/configuration/<store>/subscribe?key=...``; a failed subscribe is retried with
backoff and logged with the fix. Shutdown unsubscribes (``GET .../<id>/unsubscribe``).

The sidecar (daprd or the embedded one) then sends ``POST /configuration/<store>/<key>`` for
each changed key, body ``{"id": subscription id, "items": {key: {value, version, metadata}}}``.
Every function watching that key runs with the items it watches:
return or `Drop` -> 200; `Retry`, an invalid payload or an exception -> 500, which daprd
retries per the component's inbound resiliency policy, then drops. A change of a key that no
function watches (the store subscription covers the union) -> 200.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from funchost._invoker import InvalidPayload, build_handler, wrap
from funchost.context import FunctionContext
from funchost.errors import Drop, Retry
from funchost.plugins import hookimpl
from funchost.triggers import ConfigDef
from funchost.wiring._common import decode_body, error_response, host_of, http_outcome

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host
    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.configuration")

ROUTE = "/configuration/{store}/{key:path}"


def watched_keys(defs: list[ConfigDef]) -> list[str]:
    """The keys one store subscription needs: the union, or [] (every key) if one wants all."""
    if any(not d.keys for d in defs):
        return []
    return sorted({k for d in defs for k in d.keys})


def _stores(registry: Registry) -> dict[str, list[ConfigDef]]:
    stores: dict[str, list[ConfigDef]] = {}
    for d in registry.of(ConfigDef):
        stores.setdefault(d.store, []).append(d)
    return stores


def _signals(name: str) -> Any:
    def signals(exc: Exception) -> Response | None:
        if isinstance(exc, InvalidPayload):
            log.warning("%s: invalid configuration items: %s", name, exc.reason)
            return error_response(exc.reason, 500, "ERR_INVALID_PAYLOAD")
        if isinstance(exc, Drop):
            log.info("%s: change dropped: %s", name, exc.reason)
            return Response(status_code=200)
        if isinstance(exc, Retry):
            log.info("%s: retry requested: %s", name, exc.reason)
            return error_response(exc.reason or "retry", 500, "ERR_RETRY")
        return None

    return signals


def callback_endpoint(host: Host, stores: dict[str, list[ConfigDef]]) -> Any:
    """``POST /configuration/<store>/<key>``: run every function watching the key."""
    handlers = {
        store: [(d, wrap(d, build_handler(d), host.pm)) for d in defs]
        for store, defs in stores.items()
    }

    async def endpoint(request: Request) -> Response:
        store, key = request.path_params["store"], request.path_params["key"]
        body = decode_body(await request.body(), request.headers.get("content-type"))
        raw = body.get("items") if isinstance(body, dict) else None
        items: dict[str, Any] = raw if isinstance(raw, dict) else {}
        answer = Response(status_code=200)
        for definition, handler in handlers.get(store, []):
            if definition.keys and key not in definition.keys:
                continue
            mine = {k: v for k, v in items.items() if not definition.keys or k in definition.keys}
            ctx = FunctionContext(host, definition, event=None, data=mine, metadata=request.headers)
            response = await http_outcome(
                handler, ctx, _signals(definition.name), log, definition.name
            )
            if response.status_code >= 300:
                answer = response  # any failure asks the sidecar to retry the change
        return answer if answer.status_code >= 300 else Response(status_code=200)

    return endpoint


async def subscribe_all(host: Host, stores: dict[str, list[ConfigDef]]) -> dict[str, str]:
    """Subscribe each store once (retrying with backoff); store -> subscription id."""
    settings = host.settings
    if not await host.ready():
        log.error(
            "sidecar not healthy at %s: configuration subscriptions %s were not made",
            settings.dapr_http_endpoint,
            sorted(stores),
        )
        return {}
    headers = {"dapr-api-token": settings.dapr_api_token} if settings.dapr_api_token else {}
    ids: dict[str, str] = {}
    import httpx

    async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:
        for store, defs in sorted(stores.items()):
            keys = watched_keys(defs)
            url = f"{settings.dapr_http_endpoint}/v1.0/configuration/{store}/subscribe"
            for attempt in range(6):
                try:
                    resp = await http.get(url, params={"key": keys})
                    if resp.status_code == 200:
                        ids[store] = str(resp.json()["id"])
                        break
                    reason = f"HTTP {resp.status_code} {resp.text}"
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    reason = repr(exc)
                log.warning(
                    "subscribing to configuration store %r failed (try %d): %s: define a "
                    "configuration Component named %r for the sidecar",
                    store,
                    attempt + 1,
                    reason,
                    store,
                )
                await asyncio.sleep(0.5 * 2**attempt)
    log.info("configuration subscriptions: %s", ids)
    return ids


async def unsubscribe_all(host: Host, ids: dict[str, str]) -> None:
    """Unsubscribe what `subscribe_all` made (app shutdown)."""
    import httpx

    settings = host.settings
    headers = {"dapr-api-token": settings.dapr_api_token} if settings.dapr_api_token else {}
    async with httpx.AsyncClient(timeout=5.0, headers=headers) as http:
        for store, sub_id in ids.items():
            url = f"{settings.dapr_http_endpoint}/v1.0/configuration/{store}/{sub_id}/unsubscribe"
            try:
                await http.get(url)
            except httpx.HTTPError as exc:
                log.warning("unsubscribing from configuration store %r failed: %s", store, exc)


@hookimpl
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Serve ``POST /configuration/<store>/<key>`` when a function watches configuration."""
    stores = _stores(registry)
    if stores:
        endpoint = callback_endpoint(host_of(app), stores)
        app.add_route(ROUTE, endpoint, methods=["POST"], include_in_schema=False)


@hookimpl
def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Subscribe in the background once the sidecar answers."""
    stores = _stores(registry)
    if stores:
        app.state.config_subscriptions = {}

        async def subscribe() -> None:
            app.state.config_subscriptions = await subscribe_all(host_of(app), stores)

        host_of(app).spawn(subscribe())


@hookimpl
async def funchost_shutdown(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Unsubscribe, so a restarted app (``--reload``) is not called twice per change."""
    ids = getattr(app.state, "config_subscriptions", None)
    if ids:
        app.state.config_subscriptions = {}
        await unsubscribe_all(host_of(app), ids)
