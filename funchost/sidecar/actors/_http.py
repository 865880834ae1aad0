"""The daprd actor HTTP API under `/v1.0/actors/{type}/{id}` (mounted by `ActorsSubsystem`).

A lean ASGI app rather than Starlette routes: actor method calls are the hottest path of the
sidecar, and splitting the path once, reading only the headers the call needs and answering
with one `send` costs a fraction of building Request/Response objects per call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send

from ..app_channel import AppResponse, AppUnavailable
from ..timeformats import DurationError
from ._turns import StackDepthExceeded
from .config import ActorsConfig
from .placement import Placement
from .reminders import ReminderService
from .state import ActorStateStore, StateOpError, parse_ops
from .timers import TimerService

PREFIX = "/v1.0/actors"
_HOP_HEADERS = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"date", b"server"}
)
# request headers an actor call forwards (the rest are not read)
_WANTED = frozenset({b"content-type", b"traceparent", b"tracestate", b"dapr-reentrancy-id"})
_JSON = [(b"content-type", b"application/json")]
_METHODS = {
    "method": frozenset({"POST", "PUT", "GET", "DELETE", "PATCH"}),
    "state": frozenset(),  # see _STATE_METHODS
    "reminders": frozenset({"POST", "PUT", "GET", "DELETE"}),
    "timers": frozenset({"POST", "PUT", "DELETE"}),
}
_STATE_METHODS = {True: frozenset({"GET"}), False: frozenset({"POST", "PUT"})}  # keyed: has key

Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def _error(status: int, code: str, message: str) -> Reply:
    """A daprd-style error body."""
    return status, _JSON, json.dumps({"errorCode": code, "message": message}).encode()


_EMPTY: Reply = (204, [], b"")


class ActorsHost(Protocol):
    """What the actor HTTP API uses of `ActorsSubsystem` (which passes itself)."""

    config: ActorsConfig
    config_error: str | None
    placement: Placement
    state: ActorStateStore
    reminders: ReminderService
    timers: TimerService

    async def await_types(self, actor_type: str) -> None:
        """Wait (bounded) for the app's actor types while the app is being discovered."""
        ...

    def activate(self, actor_type: str, actor_id: str) -> object:
        """Mark an actor active."""
        ...

    def unknown_type_message(self, actor_type: str) -> str:
        """The daprd message for an actor type the app does not host."""
        ...

    async def invoke(
        self,
        actor_type: str,
        actor_id: str,
        method: str,
        body: bytes,
        headers: Mapping[str, str],
        reentrancy_id: str | None,
    ) -> AppResponse:
        """Call an actor method in the actor's turn."""
        ...


class ActorApi:
    """ASGI app serving every actor route, bound to the subsystem.

    With `handlers` (the exception handlers of the sidecar's Starlette app) it stands in front
    of that app (`fast_lane`) and answers an exception of a route as the app's handlers would.
    """

    def __init__(self, sub: ActorsHost, handlers: Mapping[Any, Any] | None = None) -> None:
        self.sub = sub
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - only HTTP is routed here
            return
        path: str = scope["path"]
        at = path.find(PREFIX)
        parts = path[at + len(PREFIX) :].split("/") if at >= 0 else []
        # ["", type, id, kind] or ["", type, id, kind, name]
        if len(parts) not in (4, 5) or parts[0] or not parts[1] or not parts[2]:
            reply = _error(404, "ERR_NOT_FOUND", f"no actor API route for {path}")
        elif self.handlers is None:
            reply = await self._route(scope, receive, parts)
        else:
            try:
                reply = await self._route(scope, receive, parts)
            except Exception as exc:
                await self._handle(scope, receive, send, exc, self.handlers)
                return
        status, headers, body = reply
        if body:
            headers = [*headers, (b"content-length", str(len(body)).encode())]
        elif status != 204:
            headers = [*headers, (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _handle(
        scope: Scope, receive: Receive, send: Send, exc: Exception, handlers: Mapping[Any, Any]
    ) -> None:
        """Answer `exc` as Starlette would with `handlers`: the most specific handler's
        response; the catch-all (`Exception`/500, ServerErrorMiddleware's) then re-raises."""
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                break
        else:
            handler, cls = handlers.get(500), Exception
            if handler is None:
                raise exc
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
        if cls is Exception:
            raise exc

    async def _route(self, scope: Scope, receive: Receive, parts: list[str]) -> Reply:
        _, actor_type, actor_id, kind, *rest = parts
        name = rest[0] if rest else None
        verb: str = scope["method"]
        if kind not in _METHODS or (kind != "state" and not name) or name == "":
            return _error(404, "ERR_NOT_FOUND", f"no actor API route for {scope['path']}")
        allowed = _METHODS[kind] if kind != "state" else _STATE_METHODS[name is not None]
        if verb not in allowed:
            return _error(405, "ERR_METHOD_NOT_ALLOWED", f"{verb} is not allowed here")
        body = await _read_body(receive) if verb in ("POST", "PUT", "PATCH", "DELETE") else b""
        await self.sub.await_types(actor_type)
        if actor_type not in self.sub.config.types:
            host = await self.sub.placement.host_for(actor_type, actor_id)
            if host is not None:  # hosted by another app: its sidecar answers
                return await self.forward(scope, host, verb, body)
        if kind == "state":
            if name is not None:
                return await self.get_state(actor_type, actor_id, name)
            return await self.transact(actor_type, actor_id, body)
        name = name or ""
        if kind == "method":
            return await self.invoke(scope, actor_type, actor_id, name, body)
        if kind == "reminders":
            return self.reminder(verb, actor_type, actor_id, name, body)
        return self.timer(verb, actor_type, actor_id, name, body)

    async def forward(self, scope: Scope, host: Any, verb: str, body: bytes) -> Reply:
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path = raw + (f"?{query}" if query else "")
        try:
            resp = await self.sub.placement.forward(host, verb, path, headers, body)
        except AppUnavailable as exc:
            return _error(500, "ERR_ACTOR_INVOKE_METHOD", f"error invoke actor method: {exc}")
        out = [
            (k.lower().encode(), v.encode())
            for k, v in resp.headers.items()
            if k.lower().encode() not in _HOP_HEADERS
        ]
        return resp.status, out, resp.body

    def missing(self, actor_type: str, status: int = 400) -> Reply | None:
        sub = self.sub
        if sub.config_error:
            return _error(500, "ERR_ACTOR_RUNTIME_NOT_FOUND", sub.config_error)
        if actor_type in sub.config.types:
            return None
        return _error(status, "ERR_ACTOR_INSTANCE_MISSING", sub.unknown_type_message(actor_type))

    async def invoke(
        self, scope: Scope, actor_type: str, actor_id: str, method: str, body: bytes
    ) -> Reply:
        if (resp := self.missing(actor_type, 500)) is not None:
            return resp
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _WANTED}
        try:
            app = await self.sub.invoke(
                actor_type,
                actor_id,
                method,
                body,
                headers,
                headers.get("dapr-reentrancy-id"),
            )
        except (StackDepthExceeded, AppUnavailable) as exc:
            return _error(500, "ERR_ACTOR_INVOKE_METHOD", f"error invoke actor method: {exc}")
        out = [
            (k.lower().encode(), v.encode())
            for k, v in app.headers.items()
            if k.lower().encode() not in _HOP_HEADERS
        ]
        return app.status, out, app.body

    async def get_state(self, actor_type: str, actor_id: str, key: str) -> Reply:
        if (resp := self.missing(actor_type)) is not None:
            return resp
        found = await self.sub.state.get(actor_type, actor_id, key)
        if found is None:
            return _EMPTY
        headers = list(_JSON)
        if found.expires is not None:
            when = datetime.fromtimestamp(found.expires, UTC).isoformat().replace("+00:00", "Z")
            headers.append((b"metadata.ttlexpiretime", when.encode()))
        return 200, headers, found.value

    async def transact(self, actor_type: str, actor_id: str, body: bytes) -> Reply:
        try:
            ops = parse_ops(body)
        except StateOpError as exc:
            return _error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {exc}")
        if (resp := self.missing(actor_type)) is not None:
            return resp
        try:
            await self.sub.state.transact(actor_type, actor_id, ops)
        except Exception as exc:
            return _error(
                500,
                "ERR_ACTOR_STATE_TRANSACTION_SAVE",
                f"error saving actor transactional state: {exc}",
            )
        return _EMPTY

    def reminder(self, verb: str, actor_type: str, actor_id: str, name: str, body: bytes) -> Reply:
        reminders = self.sub.reminders
        if verb == "GET":
            found = reminders.get(actor_type, actor_id, name)
            if found is None:
                return _error(
                    404,
                    "ERR_ACTOR_REMINDER_GET",
                    f"error getting actor reminder: reminder {name!r} not found for "
                    f"actor {actor_type}/{actor_id}",
                )
            return 200, _JSON, json.dumps(found.api_doc()).encode()
        if verb == "DELETE":
            reminders.delete(actor_type, actor_id, name)
            return _EMPTY
        if (resp := self.missing(actor_type)) is not None:
            return resp
        try:
            reminders.register(actor_type, actor_id, name, _json_object(body))
        except (ValueError, DurationError) as exc:
            return _error(400, "ERR_MALFORMED_REQUEST", f"error creating actor reminder: {exc}")
        return _EMPTY

    def timer(self, verb: str, actor_type: str, actor_id: str, name: str, body: bytes) -> Reply:
        if verb == "DELETE":
            self.sub.timers.delete(actor_type, actor_id, name)
            return _EMPTY
        if (resp := self.missing(actor_type)) is not None:
            return resp
        try:
            doc = _json_object(body)
            self.sub.activate(actor_type, actor_id)
            self.sub.timers.register(actor_type, actor_id, name, doc)
        except (ValueError, DurationError) as exc:
            return _error(400, "ERR_MALFORMED_REQUEST", f"error creating actor timer: {exc}")
        return _EMPTY


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _json_object(raw: bytes) -> dict[str, Any]:
    doc = json.loads(raw) if raw.strip() else {}
    if not isinstance(doc, dict):
        raise ValueError("body must be a JSON object")
    return doc


def actor_routes(sub: ActorsHost) -> list[BaseRoute]:
    """The actor API as one Mount: other subsystems' requests skip it with one prefix test."""
    return [Mount(PREFIX, app=ActorApi(sub))]


def fast_lane(sub: ActorsHost, app: Any) -> Any:
    """ASGI in front of the sidecar's Starlette `app`: actor API requests go straight to
    `ActorApi` (what its Mount would reach), skipping the router's scan of every other route
    and the exception middleware layers; their errors get `app`'s exception handlers."""
    api = ActorApi(sub, getattr(app, "exception_handlers", None) or {})
    lane = PREFIX + "/"

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(lane):
            await api(scope, receive, send)
        else:
            await app(scope, receive, send)

    return asgi
