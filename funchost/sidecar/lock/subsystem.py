"""`LockSubsystem`: daprd's distributed lock API (alpha1 only, as daprd).

HTTP: `POST /v1.0-alpha1/lock/<store>` `{resourceId, lockOwner, expiryInSeconds}` ->
`{"success": bool}`; `POST /v1.0-alpha1/unlock/<store>` `{resourceId, lockOwner}` ->
`{"status": n}` (0 SUCCESS, 1 LOCK_DOES_NOT_EXIST, 2 LOCK_BELONGS_TO_OTHERS, 3 INTERNAL_ERROR).
gRPC: `TryLockAlpha1`, `UnlockAlpha1`. Checks in daprd's order (pkg/api/universal/lock.go):
expiry (TryLock only), a store exists, resourceId, lockOwner, the store name; then the key is
rewritten per the component's `keyPrefix` (`lock||<appId>||<resourceId>` by default).
"""

from __future__ import annotations

import contextlib
from typing import Any

import grpc
from dapr.proto import api_v1
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError
from ..components import ResourcesSubsystem
from ..http_api import api, json_body, json_response
from ..subsystem import Runtime, Subsystem
from ._store import LockStore, LockStoreError, UnlockStatus, lock_key
from .registry import LOCK_STORES


def _malformed(message: str) -> DaprApiError:
    return DaprApiError(400, "ERR_MALFORMED_REQUEST", message, grpc.StatusCode.INVALID_ARGUMENT)


class LockSubsystem(Subsystem):
    """Lock stores by name and the lock API."""

    name = "lock"

    def __init__(self, sidecar: Runtime, components: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        self.stores: dict[str, LockStore] = {}
        self._prefix: dict[str, str | None] = {}
        for comp in components.of_kind("lock"):
            self.stores[comp.name] = LOCK_STORES[comp.type](comp, sidecar)
            self._prefix[comp.name] = comp.meta("keyPrefix")

    def _resolve(
        self, store: str, resource_id: str, owner: str, expiry: int | None = None
    ) -> tuple[LockStore, str]:
        # daprd's order (pkg/api/universal/lock.go): configured, resource, owner, expiry, store
        if not self.stores:
            raise DaprApiError(
                500,
                "ERR_LOCK_STORE_NOT_CONFIGURED",
                "lock store is not configured",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        if not resource_id:
            raise _malformed(f"ResourceId is empty in lock store {store}")
        if not owner:
            raise _malformed(f"LockOwner is empty in lock store {store}")
        if expiry is not None and expiry <= 0:
            raise _malformed(f"ExpiryInSeconds is not positive in lock store {store}")
        backend = self.stores.get(store)
        if backend is None:
            raise DaprApiError(
                400,
                "ERR_LOCK_STORE_NOT_FOUND",
                f"lock store {store} not found",
                grpc.StatusCode.INVALID_ARGUMENT,
            )
        app_id = self.sidecar.config.app_id
        return backend, lock_key(self._prefix[store], store, app_id, resource_id)

    async def try_lock(self, store: str, resource_id: str, owner: str, expiry: int) -> bool:
        """Acquire `resource_id` for `owner` for `expiry` seconds (daprd's checks first)."""
        backend, key = self._resolve(store, resource_id, owner, expiry)
        try:
            if "||" in resource_id:
                raise LockStoreError("input key/keyPrefix '" + resource_id + "' can't contain '||'")
            return await backend.try_lock(key, owner, expiry)
        except LockStoreError as exc:
            raise DaprApiError(
                500,
                "ERR_TRY_LOCK",
                f"failed to try acquiring lock: {exc}",
                grpc.StatusCode.INTERNAL,
            ) from None

    async def unlock(self, store: str, resource_id: str, owner: str) -> UnlockStatus:
        """Release `resource_id` if `owner` holds it."""
        backend, key = self._resolve(store, resource_id, owner)
        try:
            if "||" in resource_id:
                raise LockStoreError("input key/keyPrefix '" + resource_id + "' can't contain '||'")
            return await backend.unlock(key, owner)
        except LockStoreError as exc:
            raise DaprApiError(
                500, "ERR_UNLOCK", f"failed to release lock: {exc}", grpc.StatusCode.INTERNAL
            ) from None

    async def stop(self) -> None:
        for backend in self.stores.values():
            with contextlib.suppress(Exception):
                await backend.close()

    # -- HTTP -------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0-alpha1/lock/{store}", self._http_lock, methods=["POST"]),
            Route("/v1.0-alpha1/unlock/{store}", self._http_unlock, methods=["POST"]),
        ]

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        body = await json_body(request) or {}
        if not isinstance(body, dict):
            raise _malformed("lock request body must be a JSON object")
        return body

    @api
    async def _http_lock(self, request: Request) -> Response:
        body = await self._body(request)
        try:
            expiry = int(body.get("expiryInSeconds") or 0)
        except (TypeError, ValueError):
            raise _malformed("expiryInSeconds must be an integer number of seconds") from None
        ok = await self.try_lock(
            request.path_params["store"],
            str(body.get("resourceId") or ""),
            str(body.get("lockOwner") or ""),
            expiry,
        )
        return json_response({"success": ok})

    @api
    async def _http_unlock(self, request: Request) -> Response:
        body = await self._body(request)
        store = request.path_params["store"]
        status = await self.unlock(
            store, str(body.get("resourceId") or ""), str(body.get("lockOwner") or "")
        )
        return json_response({"status": int(status)})

    # -- gRPC (grpc_api.py's DaprService calls these) ---------------------------------------
    async def grpc_try_lock(self, request: Any) -> Any:
        """`TryLockAlpha1`."""
        ok = await self.try_lock(
            request.store_name, request.resource_id, request.lock_owner, request.expiry_in_seconds
        )
        return api_v1.TryLockResponse(success=ok)

    async def grpc_unlock(self, request: Any) -> Any:
        """`UnlockAlpha1`."""
        status = await self.unlock(request.store_name, request.resource_id, request.lock_owner)
        return api_v1.UnlockResponse(status=api_v1.UnlockResponse.Status.ValueType(int(status)))
