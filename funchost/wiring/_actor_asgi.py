"""The actor callbacks daprd calls most, answered without FastAPI's routing layers.

`ActorCalls` is the innermost of the app's middleware (inside drain, observability, the token
check and the body limit, which still see every request): `PUT /actors/{type}/{id}/method/{m}`
and its `timer/{name}` and `remind/{name}` forms go straight to the SDK's `ActorRuntime`, with
the exact responses of `dapr.ext.fastapi.DaprActor`'s routes (same status, body, headers, error
JSON). Every other request (deactivation, `/dapr/config`, other verbs, odd paths) goes on to the
FastAPI app and those routes unchanged. Per call this skips the exception middleware, the
router's scan, dependency solving and the Request/Response objects.
"""

from __future__ import annotations

import logging
from typing import Any

from dapr.actor import ActorRuntime
from dapr.clients.exceptions import ERROR_CODE_UNKNOWN, DaprInternalError
from dapr.ext.fastapi.actor import DEFAULT_CONTENT_TYPE, _wrap_response
from fastapi.logger import logger
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ActorCalls"]

_REENTRANCY = b"dapr-reentrancy-id"
_CONTENT_TYPE = (b"content-type", DEFAULT_CONTENT_TYPE.encode())


class ActorCalls:
    """ASGI middleware: actor method, timer and reminder callbacks; the rest passes through.

    `router` is the app's router: when a route ahead of `DaprActor`'s could answer an actor
    path (an `@invoke` route under `/actors`, a catch-all, a mount at the root), every request
    goes through the router as before.
    """

    def __init__(self, app: ASGIApp, router: Any, actor_routes: frozenset[int]) -> None:
        self.app = app
        self.router = router
        self.actor_routes = actor_routes
        self.active: bool | None = None  # decided on the first request, once routes are final

    def _decide(self) -> bool:
        for route in self.router.routes:
            if id(route) in self.actor_routes:
                return True
            path = str(getattr(route, "path", ""))
            if not path or path.startswith(("/actors", "/{")):
                return False
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.active is None:
            self.active = self._decide()
        if (
            not self.active
            or scope["type"] != "http"
            or scope["method"] != "PUT"
            or scope.get("root_path")
            or not scope["path"].startswith("/actors/")
        ):
            await self.app(scope, receive, send)
            return
        # ["", "actors", type, id, "method", name] or [..., "method", "timer"|"remind", name]
        parts = scope["path"].split("/")
        n = len(parts)
        if n < 6 or n > 7 or parts[4] != "method" or not all(parts[2:]):
            await self.app(scope, receive, send)
            return
        if n == 7 and parts[5] not in ("timer", "remind"):
            await self.app(scope, receive, send)
            return
        actor_type, actor_id = parts[2], parts[3]
        try:
            body = await _read_body(receive)
            if n == 6:
                reentrancy_id = None
                for key, value in scope["headers"]:
                    if key.lower() == _REENTRANCY:
                        reentrancy_id = value.decode("latin-1")
                        break
                method = parts[5]
                result: Any = await ActorRuntime.dispatch(
                    actor_type, actor_id, method, body, reentrancy_id
                )
            elif parts[5] == "timer":
                await ActorRuntime.fire_timer(actor_type, actor_id, parts[6], body)
            else:
                await ActorRuntime.fire_reminder(actor_type, actor_id, parts[6], body)
        except DaprInternalError as ex:
            await _wrap_response(500, ex.as_json_safe_dict())(scope, receive, send)
            return
        except Exception as ex:
            await _wrap_response(500, repr(ex), ERROR_CODE_UNKNOWN)(scope, receive, send)
            return
        if n == 6:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(f"called method. actor: {actor_type}.{actor_id}, method: {method}")
            if isinstance(result, bytes):  # what dispatch returns: the serialized result
                headers = [(b"content-length", str(len(result)).encode()), _CONTENT_TYPE]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": result})
                return
        else:
            kind = "timer" if parts[5] == "timer" else "reminder"
            result = f"called {kind}. actor: {actor_type}.{actor_id}, {kind}: {parts[6]}"
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(result)
        await _wrap_response(200, result)(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (starlette's `Request.body()`, without the Request)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
