"""`ConfigurationSubsystem`: daprd's Configuration API over HTTP and gRPC.

HTTP (every route under `/v1.0/` and `/v1.0-alpha1/`, all GET, as daprd):
- `configuration/<store>?key=a&key=b` -> 200 with the bare items map, 204 when empty.
- `configuration/<store>/subscribe?key=a` -> 200 `{"id"}`; each change is then POSTed to the app,
  once per key, at `/configuration/<store>/<key>` with the whole event `{"id", "items"}`.
- `configuration/<store>/<id>/unsubscribe` -> 200 `{"ok":true}`, 500 `{"ok":false,"message"}`.
gRPC: `GetConfiguration`, `SubscribeConfiguration` (server stream: the first message carries
only the id, then one message per change), `UnsubscribeConfiguration`, and their `Alpha1` names.
funchost only: `PUT /funchost/v1/configuration/<store>` writes items (`funchost config set`).

Each subscription has its own queue, so a change reaches each subscriber exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from dapr.proto import api_v1, common_v1
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError
from ..app_channel import AppUnavailable
from ..component import ComponentError
from ..components import ResourcesSubsystem
from ..http_api import api, json_body, json_response, query_metadata
from ..subsystem import Runtime, Subsystem
from ._store import ConfigItem, ConfigurationStore, ConfigurationStoreError
from .registry import CONFIGURATION_STORES

log = logging.getLogger("funchost.sidecar.configuration")

_PREFIXES = ("/v1.0", "/v1.0-alpha1")


def _go_list(keys: list[str]) -> str:
    return "[" + " ".join(keys) + "]"


def _proto_items(items: dict[str, ConfigItem]) -> dict[str, Any]:
    return {
        k: common_v1.ConfigurationItem(value=v.value, version=v.version, metadata=v.metadata)
        for k, v in items.items()
    }


@dataclass
class _Subscription:
    id: str
    store: str
    keys: list[str]
    http: bool
    queue: asyncio.Queue[dict[str, ConfigItem] | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    sending: bool = False
    waiting: bool = False  # between retries, on the sidecar's clock


class ConfigurationSubsystem(Subsystem):
    """Configuration stores by name, their subscriptions, and the API."""

    name = "configuration"

    def __init__(self, sidecar: Runtime, components: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        self.components = components
        self.stores: dict[str, ConfigurationStore] = {}
        self._subs: dict[str, _Subscription] = {}
        for comp in components.of_kind("configuration"):
            factory = CONFIGURATION_STORES.get(comp.type)
            if factory is None:  # components.py validated the type already
                raise ComponentError(f"{comp.source}: {comp.type} has no configuration store")
            self.stores[comp.name] = factory(comp, sidecar)

    # -- lookups and operations (shared by HTTP and gRPC) -----------------------------------
    def store(self, name: str) -> ConfigurationStore:
        """The store called `name`, or daprd's error for none / an unknown one."""
        if not self.stores:
            raise DaprApiError(
                500,
                "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
                "configuration stores not configured",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        try:
            return self.stores[name]
        except KeyError:
            raise DaprApiError(
                400,
                "ERR_CONFIGURATION_STORE_NOT_FOUND",
                f"configuration store {name} not found",
                grpc.StatusCode.INVALID_ARGUMENT,
            ) from None

    async def get(
        self, store: str, keys: list[str], metadata: dict[str, str]
    ) -> dict[str, ConfigItem]:
        backend = self.store(store)
        try:
            return await backend.get(keys, metadata)
        except (ConfigurationStoreError, OSError) as exc:
            raise DaprApiError(
                500,
                "ERR_CONFIGURATION_GET",
                f"failed to get {_go_list(keys)} from Configuration store {store}: {exc}",
                grpc.StatusCode.INTERNAL,
            ) from None

    async def subscribe(
        self, store: str, keys: list[str], metadata: dict[str, str], *, http: bool
    ) -> _Subscription:
        backend = self.store(store)
        keys = sorted(keys)
        box: list[_Subscription] = []
        early: list[dict[str, ConfigItem]] = []

        def notify(sub_id: str, items: dict[str, ConfigItem]) -> None:
            if box:
                box[0].queue.put_nowait(items)
            else:  # a change raced the subscribe call's return
                early.append(items)

        try:
            sub_id = await backend.subscribe(keys, metadata, notify)
        except (ConfigurationStoreError, OSError) as exc:
            raise DaprApiError(
                500,
                "ERR_CONFIGURATION_SUBSCRIBE",
                f"failed to subscribe {_go_list(keys)} from Configuration store {store}: {exc}",
                grpc.StatusCode.INVALID_ARGUMENT,
            ) from None
        sub = _Subscription(sub_id, store, keys, http)
        box.append(sub)
        for items in early:
            sub.queue.put_nowait(items)
        self._subs[sub_id] = sub
        if http:
            sub.task = self.sidecar.spawn(self._push_to_app(sub))
        return sub

    async def unsubscribe(self, store: str, sub_id: str) -> str | None:
        """End a subscription; the error message daprd gives, or None on success."""
        self.store(store)
        sub = self._subs.pop(sub_id, None)
        if sub is None or sub.store != store:
            if sub is not None:
                self._subs[sub_id] = sub
            return (
                f"failed to unsubscribe to configuration request {sub_id}: "
                "subscription does not exist"
            )
        await self._end(sub)
        return None

    async def _end(self, sub: _Subscription) -> None:
        with contextlib.suppress(Exception):
            await self.stores[sub.store].unsubscribe(sub.id)
        sub.queue.put_nowait(None)  # ends a gRPC stream / the HTTP push loop

    async def _push_to_app(self, sub: _Subscription) -> None:
        """HTTP subscribers: POST the event to `/configuration/<store>/<key>`, once per key."""
        while True:
            items = await sub.queue.get()
            if items is None:
                return
            sub.sending = True
            try:
                body = json.dumps(
                    {"id": sub.id, "items": {k: v.to_json() for k, v in items.items()}},
                    separators=(",", ":"),
                ).encode()
                for key in items:
                    await self._post_update(sub, key, body)
            finally:
                sub.sending = False

    async def _post_update(self, sub: _Subscription, key: str, body: bytes) -> None:
        """One POST, retried per the store's inbound resiliency policy, then dropped."""
        path = f"/configuration/{sub.store}/{key}"
        policy = self.components.resiliency.component_retry(sub.store)
        retries = 0
        while True:
            try:
                resp = await self.sidecar.app.request(
                    "POST", path, body=body, headers={"Content-Type": "application/json"}
                )
                problem = None if resp.status == 200 else f"the app answered {resp.status}"
            except AppUnavailable as exc:
                problem = str(exc)
            if problem is None:
                return
            if not policy.allows(retries):
                log.error(
                    "configuration update for %s dropped after %d retries (%s): the app must "
                    "answer 200",
                    path,
                    retries,
                    problem,
                )
                return
            retries += 1
            sub.waiting = True  # waiting on the (virtual) clock is not work in flight
            try:
                await self.sidecar.clock.sleep(policy.delay(retries))
            finally:
                sub.waiting = False

    def busy(self) -> bool:
        return any(
            s.http and not s.waiting and (s.sending or not s.queue.empty())
            for s in self._subs.values()
        )

    async def stop(self) -> None:
        for sub in list(self._subs.values()):
            sub.queue.put_nowait(None)
        self._subs.clear()
        for backend in self.stores.values():
            with contextlib.suppress(Exception):
                await backend.close()

    # -- funchost only: writing items -------------------------------------------------------
    async def set_items(self, store: str, items: dict[str, ConfigItem | None]) -> dict[str, Any]:
        backend = self.store(store)
        setter = getattr(backend, "set", None)
        if setter is None:
            raise DaprApiError(
                400,
                "ERR_CONFIGURATION_SET",
                f"configuration store {store} cannot be written through funchost: "
                "write its items with the store's own tools",
            )
        try:
            result = setter(items)
            if asyncio.iscoroutine(result):
                result = await result
        except (ConfigurationStoreError, OSError) as exc:
            raise DaprApiError(500, "ERR_CONFIGURATION_SET", f"{store}: {exc}") from None
        return {k: v.to_json() for k, v in result.items()}

    # -- HTTP -------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/funchost/v1/configuration/{store}", self._http_set, methods=["PUT", "POST"])
        ]
        for prefix in _PREFIXES:
            base = prefix + "/configuration/{store}"
            routes += [
                Route(base, self._http_get, methods=["GET"]),
                Route(base + "/subscribe", self._http_subscribe, methods=["GET"]),
                Route(base + "/{sub_id}/unsubscribe", self._http_unsubscribe, methods=["GET"]),
            ]
        return routes

    @api
    async def _http_get(self, request: Request) -> Response:
        keys = request.query_params.getlist("key")
        items = await self.get(request.path_params["store"], keys, query_metadata(request))
        if not items:
            return Response(status_code=204)
        return json_response({k: v.to_json() for k, v in items.items()})

    @api
    async def _http_subscribe(self, request: Request) -> Response:
        store = request.path_params["store"]
        self.store(store)
        if self.sidecar.config.app_port is None:
            raise DaprApiError(
                500,
                "ERR_APP_CHANNEL_NIL",
                "app channel is not initialized. cannot subscribe to configuration updates",
            )
        keys = request.query_params.getlist("key")
        sub = await self.subscribe(store, keys, query_metadata(request), http=True)
        return json_response({"id": sub.id})

    @api
    async def _http_unsubscribe(self, request: Request) -> Response:
        error = await self.unsubscribe(request.path_params["store"], request.path_params["sub_id"])
        if error is not None:
            return json_response({"ok": False, "message": error}, status=500)
        return json_response({"ok": True})

    @api
    async def _http_set(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise DaprApiError(
                400,
                "ERR_MALFORMED_REQUEST",
                'body must be {"<key>": {"value": ..., "version": ..., "metadata": {...}} | null}',
            )
        items: dict[str, ConfigItem | None] = {}
        for key, raw in body.items():
            if raw is None:
                items[str(key)] = None
            elif isinstance(raw, dict):
                items[str(key)] = ConfigItem(
                    str(raw.get("value", "")),
                    str(raw.get("version") or ""),
                    {str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
                )
            else:
                items[str(key)] = ConfigItem(str(raw))
        return json_response(await self.set_items(request.path_params["store"], items))

    # -- gRPC (grpc_api.py's DaprService calls these, stable and Alpha1 names alike) ----------
    async def grpc_get(self, request: Any) -> Any:
        """`GetConfiguration`."""
        items = await self.get(request.store_name, list(request.keys), dict(request.metadata))
        return api_v1.GetConfigurationResponse(items=_proto_items(items))

    async def grpc_subscribe(self, request: Any) -> AsyncIterator[Any]:
        """`SubscribeConfiguration`: the id first, then one message per change."""
        sub = await self.subscribe(
            request.store_name, list(request.keys), dict(request.metadata), http=False
        )
        try:
            yield api_v1.SubscribeConfigurationResponse(id=sub.id)
            while True:
                items = await sub.queue.get()
                if items is None:
                    return
                yield api_v1.SubscribeConfigurationResponse(id=sub.id, items=_proto_items(items))
        finally:
            if self._subs.pop(sub.id, None) is not None:  # the client went away
                with contextlib.suppress(Exception):
                    await self.stores[sub.store].unsubscribe(sub.id)

    async def grpc_unsubscribe(self, request: Any) -> Any:
        """`UnsubscribeConfiguration` (OK with `ok=false` for an unknown id, as daprd)."""
        error = await self.unsubscribe(request.store_name, request.id)
        if error is not None:
            return api_v1.UnsubscribeConfigurationResponse(ok=False, message=error)
        return api_v1.UnsubscribeConfigurationResponse(ok=True)
