"""The state subsystem: stores from components (registry.py), the `/v1.0/state` HTTP API.

Other subsystems reach a store's backend with `sidecar.state.backend(name)` (actors use
`.actor_backend()`, the store flagged `actorStateStore: "true"`). The gRPC handlers live in
grpc_api.py and call the same `save/get/delete/transact` methods.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError, not_found
from ..components import ResourcesSubsystem
from ..http_api import api, json_body, json_response, query_metadata
from ..store_errors import patiently, storage_error
from ..subsystem import Runtime, Subsystem
from ..timeformats import format_rfc3339
from .backend import (
    FIRST_WRITE,
    LAST_WRITE,
    BackendContext,
    EtagInvalid,
    EtagMismatch,
    StateBackend,
    StateItem,
    StoredValue,
    ttl_from_metadata,
)
from .registry import STATE_BACKENDS

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


class StateSubsystem(Subsystem):
    """State stores by name, with daprd's error codes."""

    name = "state"

    def __init__(self, sidecar: Runtime, resources: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        self.resources = resources
        ctx = BackendContext(sidecar.store, sidecar.config.app_id, sidecar.clock.time)
        self.backends: dict[str, StateBackend] = {
            comp.name: STATE_BACKENDS[comp.type](comp, ctx) for comp in resources.of_kind("state")
        }

    async def start(self) -> None:
        for backend in self.backends.values():
            backend.purge_expired()  # rows whose TTL passed while the sidecar was down

    # -- lookups used by other subsystems ---------------------------------------------------
    def backend(self, name: str) -> StateBackend:
        """The backend of state store `name` (DaprApiError ERR_STATE_STORE_NOT_FOUND if none)."""
        if not self.backends:
            raise DaprApiError(
                500,
                "ERR_STATE_STORE_NOT_CONFIGURED",
                "state store is not configured: add a state Component to a resources folder",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        try:
            return self.backends[name]
        except KeyError:
            raise not_found("state store", name, "ERR_STATE_STORE_NOT_FOUND") from None

    def actor_backend(self) -> StateBackend | None:
        """The backend of the actor state store, or None when no store is flagged."""
        comp = self.resources.actor_state_store()
        return self.backends.get(comp.name) if comp is not None else None

    # -- operations (shared by HTTP and gRPC) -----------------------------------------------
    def get(self, store: str, key: str) -> StoredValue | None:
        backend = self.backend(store)
        try:
            return backend.get(key)
        except sqlite3.Error as exc:
            raise storage_error(
                exc, "ERR_STATE_GET", f"fail to get {key} from state store {store}"
            ) from None

    def bulk_get(self, store: str, keys: list[str]) -> dict[str, StoredValue | None]:
        backend = self.backend(store)
        try:
            return backend.bulk_get(keys)
        except sqlite3.Error as exc:
            raise storage_error(
                exc, "ERR_STATE_BULK_GET", f"failed getting state in state store {store}"
            ) from None

    def save(self, store: str, items: list[StateItem]) -> None:
        backend = self.backend(store)
        self._guard("ERR_STATE_SAVE", store, lambda: backend.set_many(items))

    def delete(self, store: str, item: StateItem) -> None:
        backend = self.backend(store)
        self._guard("ERR_STATE_DELETE", store, lambda: backend.delete(item))

    def transact(self, store: str, ops: list[tuple[str, StateItem]]) -> None:
        backend = self.backend(store)
        for op, item in ops:
            if op not in ("upsert", "delete"):
                raise DaprApiError(
                    400,
                    "ERR_NOT_SUPPORTED_STATE_OPERATION",
                    f"operation type {op} not supported: use upsert or delete (key {item.key!r})",
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
        self._guard("ERR_STATE_TRANSACTION", store, lambda: backend.transact(ops))

    @staticmethod
    def _guard(code: str, store: str, action: Callable[[], Any]) -> None:
        verb = {"ERR_STATE_SAVE": "saving", "ERR_STATE_DELETE": "deleting"}.get(
            code, "executing transaction in"
        )
        try:
            action()
        except EtagMismatch as exc:
            raise DaprApiError(
                409,
                code,
                f"failed {verb} state in state store {store}: {exc}",
                grpc.StatusCode.ABORTED,
            ) from None
        except EtagInvalid as exc:
            raise DaprApiError(
                400,
                code,
                f"failed {verb} state in state store {store}: {exc}",
                grpc.StatusCode.INVALID_ARGUMENT,
            ) from None
        except sqlite3.Error as exc:
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
        try:
            ttl = ttl_from_metadata(metadata)
        except ValueError as exc:
            raise DaprApiError(
                400, "ERR_MALFORMED_REQUEST", str(exc), grpc.StatusCode.INVALID_ARGUMENT
            ) from None
        return StateItem(key, value, etag or None, _concurrency(concurrency), ttl, metadata)

    @staticmethod
    def response_metadata(stored: StoredValue) -> dict[str, str]:
        return {"ttlExpireTime": format_rfc3339(stored.expires)} if stored.expires else {}

    # -- HTTP -------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/state/{store}", self._http_save, methods=["POST"]),
            Route("/v1.0/state/{store}/bulk", self._http_bulk, methods=["POST"]),
            Route("/v1.0/state/{store}/transaction", self._http_tx, methods=["POST", "PUT"]),
            Route("/v1.0/state/{store}/{key:path}", self._http_get, methods=["GET"]),
            Route("/v1.0/state/{store}/{key:path}", self._http_delete, methods=["DELETE"]),
        ]

    def _http_item(self, raw: Any) -> StateItem:
        if not isinstance(raw, dict):
            raise DaprApiError(400, "ERR_MALFORMED_REQUEST", "each state item must be an object")
        opts = raw.get("options") or {}
        return self.item(
            str(raw.get("key") or ""),
            _value_bytes(raw.get("value")),
            str(raw["etag"]) if raw.get("etag") not in (None, "") else None,
            opts.get("concurrency"),
            {str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
        )

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
        stored = self.get(request.path_params["store"], request.path_params["key"])
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
        for key, stored in self.bulk_get(request.path_params["store"], keys).items():
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
