"""The state subsystem: stores from components (registry.py), the `/v1.0/state` HTTP API.

Other subsystems reach a store's backend with `sidecar.state.backend(name)` (actors use
`.actor_backend()`, the store flagged `actorStateStore: "true"`). The gRPC handlers live in
grpc_api.py and call the same `save/get/delete/transact` methods.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import sqlite3
from collections.abc import Awaitable
from typing import Any, cast

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError, not_found
from ..components import ResourcesSubsystem
from ..http_api import api, json_body, json_response, query_metadata
from ..pubsub.subsystem import PubSubSubsystem
from ..store_errors import patiently, storage_error
from ..subsystem import Runtime, Subsystem
from ..timeformats import format_rfc3339
from .backend import (
    FIRST_WRITE,
    LAST_WRITE,
    AsyncStateBackend,
    BackendContext,
    EtagInvalid,
    EtagMismatch,
    Querier,
    QueryResult,
    StateBackend,
    StateItem,
    StateStoreError,
    StoredValue,
    SyncBackendAdapter,
    ttl_from_metadata,
)
from .outbox import OutboxSettings, TransactionalOutbox
from .query import QueryError, parse_query
from .registry import STATE_BACKENDS

log = logging.getLogger("funchost.sidecar.state")

__all__ = ["FIRST_WRITE", "LAST_WRITE", "StateItem", "StateSubsystem", "StoredValue"]


def _concurrency(value: Any) -> str:
    if value in (1, "1", FIRST_WRITE, "FIRST_WRITE", "CONCURRENCY_FIRST_WRITE"):
        return FIRST_WRITE
    return LAST_WRITE


def _value_bytes(value: Any) -> bytes:
    """What daprd stores for an HTTP JSON value: bytes of its JSON encoding."""
    if value is None:
        return b""
    return json.dumps(value, separators=(",", ":")).encode()


def _http_data(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


KEY_SEPARATOR = "||"
_VERBS = {"ERR_STATE_SAVE": "saving", "ERR_STATE_DELETE": "deleting"}


def _verb(code: str) -> str:
    """How a failed write's message names the operation of `code`."""
    return _VERBS.get(code, "executing transaction in")


def check_keys(store: str, keys: list[str]) -> None:
    """Refuse keys daprd calls illegal (they contain the `||` key-prefix separator)."""
    for key in keys:
        if KEY_SEPARATOR in key:
            msg = f"input key/keyPrefix '{key}' can't contain '{KEY_SEPARATOR}'"
            exc = _illegal_key(store, key, msg)
            # daprd's HTTP handler wraps the error a second time (pkg/api/errors/state.go)
            exc.http_variant = _illegal_key(
                store, key, f"api error: code = InvalidArgument desc = {msg}"
            )
            raise exc


def _illegal_key(store: str, key: str, msg: str) -> DaprApiError:
    return (
        DaprApiError(400, "ERR_MALFORMED_REQUEST", msg, grpc.StatusCode.INVALID_ARGUMENT)
        .with_field_violation(key, msg)
        .with_resource("state", store)
        .with_error_info("DAPR_STATE_ILLEGAL_KEY")
    )


def _as_async(backend: StateBackend | AsyncStateBackend) -> AsyncStateBackend:
    if inspect.iscoroutinefunction(getattr(backend, "get", None)):
        return cast(AsyncStateBackend, backend)
    return SyncBackendAdapter(cast(StateBackend, backend))


def _query_error(error_code: str, message: str, reason: str, store: str) -> DaprApiError:
    """A query error as daprd's kit errors report it (ErrorInfo `reason`, ResourceInfo state)."""
    return (
        DaprApiError(500, error_code, message, grpc.StatusCode.INTERNAL)
        .with_error_info(reason)
        .with_resource("state", store)
    )


def _query_failed(store: str, reason: str) -> DaprApiError:
    return _query_error(
        "ERR_STATE_QUERY",
        f"state store {store} query failed: {reason}",
        "DAPR_STATE_QUERY_FAILED",
        store,
    )


class StateSubsystem(Subsystem):
    """State stores by name, with daprd's error codes."""

    name = "state"

    def __init__(
        self,
        sidecar: Runtime,
        resources: ResourcesSubsystem,
        pubsub: PubSubSubsystem | None = None,
    ) -> None:
        super().__init__(sidecar)
        self.resources = resources
        self.pubsub = pubsub
        ctx = BackendContext(sidecar.store, sidecar.config.app_id, sidecar.clock.time)
        #: each store's backend as built (actors use the synchronous ones directly)
        self.backends: dict[str, StateBackend | AsyncStateBackend] = {}
        #: each store's backend behind the async interface the API awaits
        self.apis: dict[str, AsyncStateBackend] = {}
        #: stores with outbox metadata
        self.outboxes: dict[str, OutboxSettings] = {}
        for comp in resources.of_kind("state"):
            backend = STATE_BACKENDS[comp.type](comp, ctx)
            self.backends[comp.name] = backend
            self.apis[comp.name] = _as_async(backend)
            if (settings := OutboxSettings.of(comp)) is not None:
                self.outboxes[comp.name] = settings
        self.outbox = (
            TransactionalOutbox(sidecar.store, pubsub, sidecar.config.app_id)
            if self.outboxes
            else None
        )

    async def start(self) -> None:
        for sapi in self.apis.values():
            await sapi.open()
        for sapi in self.apis.values():
            await sapi.purge_expired()  # rows whose TTL passed while the sidecar was down
            interval = float(getattr(sapi, "cleanup_interval", 0) or 0)
            if interval > 0:  # the store's TTLs run on its own clock (state.postgresql)
                self.sidecar.spawn(self._cleanup_loop(sapi, interval))

    async def _cleanup_loop(self, sapi: AsyncStateBackend, interval: float) -> None:
        """daprd's garbage collector: delete expired rows every `cleanupInterval`."""
        while True:
            await asyncio.sleep(interval)
            try:
                await sapi.purge_expired()
            except Exception as exc:
                log.warning("state store %s: deleting expired rows failed: %s", sapi.name, exc)

    async def on_app_ready(self) -> None:
        if self.outbox is not None:
            await self.outbox.recover(self.outboxes, self.apis)

    async def stop(self) -> None:
        for sapi in self.apis.values():
            await sapi.close()

    # -- lookups used by other subsystems ---------------------------------------------------
    def backend(self, name: str) -> StateBackend | AsyncStateBackend:
        """The backend of state store `name` (DaprApiError ERR_STATE_STORE_NOT_FOUND if none)."""
        if not self.backends:
            raise DaprApiError(
                500,
                "ERR_STATE_STORE_NOT_CONFIGURED",
                "state store is not configured: add a state Component to a resources folder",
                grpc.StatusCode.FAILED_PRECONDITION,
            ).with_error_info("DAPR_STATE_NOT_CONFIGURED")
        try:
            return self.backends[name]
        except KeyError:
            app_id = self.sidecar.config.app_id
            raise not_found(
                "state store",
                name,
                "ERR_STATE_STORE_NOT_FOUND",
                reason="DAPR_STATE_NOT_FOUND",
                http_metadata={"appID": app_id} if app_id else None,
            ) from None

    def actor_backend(self) -> StateBackend | AsyncStateBackend | None:
        """The backend of the actor state store, or None when no store is flagged."""
        comp = self.resources.actor_state_store()
        return self.backends.get(comp.name) if comp is not None else None

    def actor_api(self) -> AsyncStateBackend | None:
        """The actor state store behind the async interface, keys unprefixed (actor keys
        already carry daprd's `<appId>||<type>||<id>||` layout)."""
        comp = self.resources.actor_state_store()
        if comp is None or comp.name not in self.apis:
            return None
        sapi = self.apis[comp.name]
        unprefixed = getattr(sapi, "unprefixed", None)
        return cast(AsyncStateBackend, unprefixed()) if unprefixed is not None else sapi

    def store_api(self, name: str) -> AsyncStateBackend:
        """Store `name` behind the async interface (errors as `backend`)."""
        self.backend(name)
        return self.apis[name]

    # -- operations (shared by HTTP and gRPC) -----------------------------------------------
    async def get(self, store: str, key: str) -> StoredValue | None:
        check_keys(store, [key])
        sapi = self.store_api(store)
        try:
            return await sapi.get(key)
        except sqlite3.Error as exc:
            raise storage_error(
                exc, "ERR_STATE_GET", f"fail to get {key} from state store {store}"
            ) from None

    async def bulk_get(self, store: str, keys: list[str]) -> dict[str, StoredValue | None]:
        check_keys(store, keys)
        sapi = self.store_api(store)
        try:
            return await sapi.bulk_get(keys)
        except sqlite3.Error as exc:
            raise storage_error(
                exc, "ERR_STATE_BULK_GET", f"failed getting state in state store {store}"
            ) from None

    async def save(self, store: str, items: list[StateItem]) -> None:
        sapi = self.store_api(store)
        check_keys(store, [item.key for item in items])
        await self._guard("ERR_STATE_SAVE", store, sapi.set_many(items))

    async def delete(self, store: str, item: StateItem) -> None:
        sapi = self.store_api(store)
        check_keys(store, [item.key])
        await self._guard("ERR_STATE_DELETE", store, sapi.delete(item))

    async def transact(self, store: str, ops: list[tuple[str, StateItem]]) -> None:
        sapi = self.store_api(store)
        check_keys(store, [item.key for _, item in ops])
        for op, item in ops:
            if op not in ("upsert", "delete"):
                raise DaprApiError(
                    400,
                    "ERR_NOT_SUPPORTED_STATE_OPERATION",
                    f"operation type {op} not supported: use upsert or delete (key {item.key!r})",
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
        settings = self.outboxes.get(store)
        if settings is None or self.outbox is None:
            await self._guard("ERR_STATE_TRANSACTION", store, sapi.transact(ops))
            return
        now = format_rfc3339(self.sidecar.clock.time())
        await self.outbox.transact(
            store,
            settings,
            self.backends[store],
            sapi,
            ops,
            now,
            lambda action: self._guard("ERR_STATE_TRANSACTION", store, action),
        )

    async def query(self, store: str, text: str | bytes, metadata: dict[str, str]) -> QueryResult:
        """Run a state query (daprd's `QueryStateAlpha1` answers and errors)."""
        sapi = self.store_api(store)
        if not isinstance(sapi, Querier):
            raise _query_error(
                "ERR_STATE_STORE_NOT_SUPPORTED",
                "state store does not support querying",
                "DAPR_STATE_QUERYING_NOT_SUPPORTED",
                store,
            )
        try:
            parsed = parse_query(text)
        except QueryError as exc:
            raise _query_failed(store, f"failed to parse JSON query body: {exc}") from None
        try:
            return await sapi.query(parsed, metadata)
        except QueryError as exc:
            raise _query_failed(store, str(exc)) from None
        except Exception as exc:  # the database refused it
            raise _query_failed(store, str(exc).strip()) from None

    @staticmethod
    async def _guard(code: str, store: str, action: Awaitable[Any]) -> None:
        try:
            await action
        except EtagMismatch as exc:
            verb = _verb(code)
            raise (
                DaprApiError(
                    409,
                    code,
                    f"failed {verb} state in state store {store}: {exc}",
                    grpc.StatusCode.ABORTED,
                )
                .with_error_info(code)
                .grpc_only()
            ) from None
        except EtagInvalid as exc:
            verb = _verb(code)
            raise (
                DaprApiError(
                    400,
                    code,
                    f"failed {verb} state in state store {store}: {exc}",
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
                .with_error_info(code)
                .grpc_only()
            ) from None
        except StateStoreError as exc:
            verb = _verb(code)
            raise DaprApiError(
                500, code, f"failed {verb} state in state store {store}: {exc}"
            ) from None
        except sqlite3.Error as exc:
            verb = _verb(code)
            raise storage_error(exc, code, f"failed {verb} state in state store {store}") from None

    @staticmethod
    def item(
        key: str,
        value: bytes | None,
        etag: str | None,
        concurrency: Any,
        metadata: dict[str, str],
    ) -> StateItem:
        """Build a StateItem, validating `ttlInSeconds` (DaprApiError 400 when malformed)."""
        if not key:
            raise DaprApiError(
                400, "ERR_MALFORMED_REQUEST", "state key is empty", grpc.StatusCode.INVALID_ARGUMENT
            )
        if not metadata:  # the usual case: no TTL, no content type
            return StateItem(key, value, etag or None, _concurrency(concurrency), None, metadata)
        try:
            ttl = ttl_from_metadata(metadata)
        except ValueError as exc:
            raise DaprApiError(
                400, "ERR_MALFORMED_REQUEST", str(exc), grpc.StatusCode.INVALID_ARGUMENT
            ) from None
        ctype = metadata.get("contentType", "").split(";")[0].strip().lower()
        return StateItem(
            key,
            value,
            etag or None,
            _concurrency(concurrency),
            ttl,
            metadata,
            is_json=ctype == "application/json",
        )

    @staticmethod
    def response_metadata(stored: StoredValue) -> dict[str, str]:
        return {"ttlExpireTime": format_rfc3339(stored.expires)} if stored.expires else {}

    # -- HTTP -------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/state/{store}", self._http_save, methods=["POST"]),
            Route("/v1.0/state/{store}/bulk", self._http_bulk, methods=["POST"]),
            Route("/v1.0/state/{store}/transaction", self._http_tx, methods=["POST", "PUT"]),
            Route("/v1.0-alpha1/state/{store}/query", self._http_query, methods=["POST", "PUT"]),
            Route("/v1.0/state/{store}/{key:path}", self._http_get, methods=["GET"]),
            Route("/v1.0/state/{store}/{key:path}", self._http_delete, methods=["DELETE"]),
        ]

    def _http_item(self, raw: Any) -> StateItem:
        if not isinstance(raw, dict):
            raise DaprApiError(400, "ERR_MALFORMED_REQUEST", "each state item must be an object")
        opts = raw.get("options") or {}
        item = self.item(
            str(raw.get("key") or ""),
            _value_bytes(raw.get("value")),
            str(raw["etag"]) if raw.get("etag") not in (None, "") else None,
            opts.get("concurrency"),
            {str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
        )
        item.is_json = True
        return item

    @api
    async def _http_save(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, list):
            raise DaprApiError(400, "ERR_MALFORMED_REQUEST", "body must be a list of state items")
        items = [self._http_item(r) for r in body]
        await patiently(lambda: self.save(request.path_params["store"], items))
        return Response(status_code=204)

    @api
    async def _http_get(self, request: Request) -> Response:
        query_metadata(request)
        stored = await self.get(request.path_params["store"], request.path_params["key"])
        if stored is None:
            return Response(status_code=204)
        headers = {"ETag": stored.etag}
        for k, v in self.response_metadata(stored).items():
            headers[f"metadata.{k}"] = v
        return Response(stored.value, media_type="application/json", headers=headers)

    @api
    async def _http_delete(self, request: Request) -> Response:
        etag = request.headers.get("if-match")
        item = self.item(
            request.path_params["key"],
            None,
            etag,
            request.query_params.get("concurrency"),
            query_metadata(request),
        )
        await patiently(lambda: self.delete(request.path_params["store"], item))
        return Response(status_code=204)

    @api
    async def _http_bulk(self, request: Request) -> Response:
        body = await json_body(request) or {}
        keys = [str(k) for k in body.get("keys") or []]
        out = []
        found = await self.bulk_get(request.path_params["store"], keys)
        for key, stored in found.items():
            entry: dict[str, Any] = {"key": key}
            if stored is not None:
                entry["data"] = _http_data(stored.value)
                entry["etag"] = stored.etag
            out.append(entry)
        return json_response(out)

    @api
    async def _http_tx(self, request: Request) -> Response:
        body = await json_body(request) or {}
        ops = []
        for raw in body.get("operations") or []:
            ops.append((str(raw.get("operation")), self._http_item(raw.get("request") or {})))
        await patiently(lambda: self.transact(request.path_params["store"], ops))
        return Response(status_code=204)

    @api
    async def _http_query(self, request: Request) -> Response:
        store = request.path_params["store"]
        result = await self.query(store, await request.body(), query_metadata(request))
        if not result.results:
            return Response(status_code=204)
        items = []
        for r in result.results:
            entry: dict[str, Any] = {"key": r.key, "data": _http_data(r.data)}
            if r.etag:
                entry["etag"] = r.etag
            items.append(entry)
        out: dict[str, Any] = {"results": items}
        if result.token:
            out["token"] = result.token
        return json_response(out)
