"""The distributed lock building block (alpha): `TryLockAlpha1` / `UnlockAlpha1`.

HTTP `POST /v1.0-alpha1/lock/{store}` `{"resourceId","lockOwner","expiryInSeconds"}` ->
`{"success"}` and `POST /v1.0-alpha1/unlock/{store}` `{"resourceId","lockOwner"}` -> `{"status"}`
(0 SUCCESS, 1 LOCK_DOES_NOT_EXIST, 2 LOCK_BELONGS_TO_OTHERS, 3 INTERNAL_ERROR), and the same
over gRPC. Keys are prefixed as daprd's `GetModifiedLockKey` does (`lock||<appId>||<resource>`,
or per the component's `keyPrefix`: `appid`, `name`, `none` or a fixed prefix). Errors are
daprd's (`pkg/messages/predefined.go`).
"""

from __future__ import annotations

from typing import Any, cast

import grpc
from dapr.proto import api_v1
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError
from ..component import Component
from ..components import ResourcesSubsystem
from ..http_api import api, go_fields, json_body, json_response
from ..subsystem import Runtime, Subsystem
from .backends import LockBackend, MemoryLock, RedisLock

TYPES = ("lock.in-memory", "lock.redis")
_SEPARATOR = "||"


def _invalid(message: str) -> DaprApiError:
    return DaprApiError(400, "ERR_MALFORMED_REQUEST", message, grpc.StatusCode.INVALID_ARGUMENT)


class LockSubsystem(Subsystem):
    """Lock stores by name."""

    name = "lock"

    def __init__(self, sidecar: Runtime, resources: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        self.components: dict[str, Component] = {}
        self.backends: dict[str, LockBackend] = {}
        for comp in resources.of_kind("lock"):
            self.components[comp.name] = comp
            if comp.type == "lock.redis":
                self.backends[comp.name] = RedisLock(comp)
            else:
                self.backends[comp.name] = MemoryLock(sidecar.clock.time)

    async def stop(self) -> None:
        for backend in self.backends.values():
            await backend.close()

    def _backend(self, store: str) -> LockBackend:
        if not self.backends:
            raise DaprApiError(
                500,
                "ERR_LOCK_STORE_NOT_CONFIGURED",
                "lock store is not configured: add a lock.redis or lock.in-memory Component",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        try:
            return self.backends[store]
        except KeyError:
            raise DaprApiError(
                400,
                "ERR_LOCK_STORE_NOT_FOUND",
                f"lock store {store} not found: define a Component named {store!r}",
                grpc.StatusCode.INVALID_ARGUMENT,
            ) from None

    def _key(self, store: str, resource: str) -> str:
        if _SEPARATOR in resource:
            raise _invalid(f"input key/keyPrefix '{resource}' can't contain '{_SEPARATOR}'")
        strategy = self.components[store].meta("keyPrefix") or "appid"
        prefix = {"appid": self.sidecar.config.app_id, "name": store, "none": ""}.get(
            strategy.lower(), strategy
        )
        return _SEPARATOR.join(p for p in ("lock", prefix, resource) if p)

    async def try_lock(self, store: str, resource: str, owner: str, expiry: int) -> bool:
        """Take a lock (daprd's validation and errors)."""
        backend = self._backend(store)
        if not resource:
            raise _invalid(f"ResourceId is empty in lock store {store}")
        if not owner:
            raise _invalid(f"LockOwner is empty in lock store {store}")
        if expiry <= 0:
            raise _invalid(f"ExpiryInSeconds is not positive in lock store {store}")
        key = self._key(store, resource)
        try:
            return await backend.try_lock(key, owner, expiry)
        except Exception as exc:
            raise DaprApiError(
                500, "ERR_TRY_LOCK", f"failed to try acquiring lock: {exc}"
            ) from None

    async def unlock(self, store: str, resource: str, owner: str) -> int:
        """Release a lock; an UnlockResponse status."""
        backend = self._backend(store)
        if not resource:
            raise _invalid(f"ResourceId is empty in lock store {store}")
        if not owner:
            raise _invalid(f"LockOwner is empty in lock store {store}")
        key = self._key(store, resource)
        try:
            return await backend.unlock(key, owner)
        except Exception as exc:
            raise DaprApiError(500, "ERR_UNLOCK", f"failed to release lock: {exc}") from None

    # -- gRPC (DaprService's TryLockAlpha1 / UnlockAlpha1) -------------------------------------
    async def grpc_try_lock(self, request: Any) -> Any:
        """A `TryLockRequest` answered with a `TryLockResponse`."""
        ok = await self.try_lock(
            request.store_name, request.resource_id, request.lock_owner, request.expiry_in_seconds
        )
        return api_v1.TryLockResponse(success=ok)

    async def grpc_unlock(self, request: Any) -> Any:
        """An `UnlockRequest` answered with an `UnlockResponse`."""
        status = await self.unlock(request.store_name, request.resource_id, request.lock_owner)
        return api_v1.UnlockResponse(status=cast(Any, status))

    # -- HTTP ----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0-alpha1/lock/{store}", self._http_lock, methods=["POST"]),
            Route("/v1.0-alpha1/unlock/{store}", self._http_unlock, methods=["POST"]),
        ]

    async def _http_body(self, request: Request) -> dict[str, Any]:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise _invalid("the body must be a JSON object")
        return go_fields(body, ("resourceId", "lockOwner", "expiryInSeconds"))

    @api
    async def _http_lock(self, request: Request) -> Response:
        body = await self._http_body(request)
        try:
            expiry = int(body.get("expiryInSeconds") or 0)
        except (TypeError, ValueError):
            raise _invalid("expiryInSeconds must be an integer") from None
        ok = await self.try_lock(
            request.path_params["store"],
            str(body.get("resourceId") or ""),
            str(body.get("lockOwner") or ""),
            expiry,
        )
        return json_response({"success": ok})

    @api
    async def _http_unlock(self, request: Request) -> Response:
        body = await self._http_body(request)
        status = await self.unlock(
            request.path_params["store"],
            str(body.get("resourceId") or ""),
            str(body.get("lockOwner") or ""),
        )
        return json_response({"status": status})
