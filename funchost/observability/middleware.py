"""ASGI middleware that observes every app callback the sidecar makes (pure ASGI, cheap).

For each request whose route belongs to a function (a `RouteTable` says which: topic, binding,
job, invoke, actor), it opens an `Observer.invocation` scope with the incoming trace context
(the CloudEvent's `traceparent` for topics, the `traceparent` header otherwise), the event id
and attempt, runs the app, and reads the outcome from the response as daprd would (SUCCESS,
RETRY, DROP; 404 = DROP; other errors = RETRY).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.routing import compile_path

from .observer import Observer

__all__ = ["ObservabilityMiddleware", "RouteTable", "RouteTarget", "routes_from_definitions"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ACTOR_PATH = re.compile(r"^/actors/(?P<type>[^/]+)/(?P<id>[^/]+)(?:/method/(?P<method>.+))?$")
_MAX_CAPTURE = 16 * 1024  # response bytes kept to read a {"status": ...} answer


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """The function behind an app route: its name, trigger kind, and whether it dead-letters."""

    function: str
    kind: str
    dead_letter: bool = False


class RouteTable:
    """Maps (method, path) to a `RouteTarget`; actor callbacks are recognised by their path."""

    def __init__(self, entries: Iterable[tuple[Iterable[str] | None, str, RouteTarget]] = ()):
        self._routes: list[tuple[frozenset[str] | None, re.Pattern[str], RouteTarget]] = []
        self._static: dict[str, list[tuple[frozenset[str] | None, RouteTarget]]] = {}
        for methods, path, target in entries:
            self.add(path, target, methods)

    def add(self, path: str, target: RouteTarget, methods: Iterable[str] | None = None) -> None:
        """Route `path` (a Starlette path template) for `methods` (None = any) to `target`."""
        if not path.startswith("/"):
            path = "/" + path
        allowed = frozenset(m.upper() for m in methods) if methods is not None else None
        if "{" not in path:
            self._static.setdefault(path, []).append((allowed, target))
        else:
            regex, _fmt, _conv = compile_path(path)
            self._routes.append((allowed, regex, target))

    def __call__(self, scope: Scope) -> RouteTarget | None:
        path: str = scope["path"]
        method: str = scope["method"]
        for allowed, target in self._static.get(path, ()):
            if allowed is None or method in allowed:
                return target
        for allowed, regex, target in self._routes:
            if (allowed is None or method in allowed) and regex.match(path):
                return target
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ObservabilityMiddleware:
    """Wraps the app; see the module docstring."""

    def __init__(self, app: ASGIApp, observer: Observer, routes: RouteTable) -> None:
        self.app = app
        self.observer = observer
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.observer.enabled:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":
            await self.app(scope, receive, send)
            return
        actor = _ACTOR_PATH.match(scope["path"]) if scope["path"].startswith("/actors/") else None
        if actor is not None:
            await self._actor(scope, receive, send, actor)
            return
        target = self.routes(scope)
        if target is None:
            await self.app(scope, receive, send)
            return
        traceparent = _header(scope, b"traceparent")
        tracestate = _header(scope, b"tracestate")
        event_id: str | None = None
        attrs = _http_attributes(scope)
        if target.kind == "topic":
            body, receive = await _buffer(receive)
            event = _loads(body)
            if isinstance(event, dict):
                attrs.update(_messaging_attributes(event))
            if isinstance(event, dict) and "entries" not in event:
                event_id = _str(event.get("id"))
                traceparent = _str(event.get("traceparent")) or traceparent
                tracestate = _str(event.get("tracestate")) or tracestate
        with self.observer.invocation(
            target.function,
            target.kind,
            traceparent=traceparent,
            tracestate=tracestate,
            event_id=event_id,
        ) as inv:
            inv.extra = attrs
            capture = _Capture(send, keep_body=target.kind == "topic")
            try:
                await self.app(scope, receive, capture)
            finally:
                attrs["http.response.status_code"] = capture.status
            outcome, failed = _classify(target, capture.status, bytes(capture.body))
            if outcome != "success" or failed:
                if failed and inv.error is None:
                    inv.error = RuntimeError(f"the app answered HTTP {capture.status}")
                if inv.outcome == "success":
                    inv.outcome = outcome

    async def _actor(self, scope: Scope, receive: Receive, send: Send, match: Any) -> None:
        actor_type, actor_id, method = match.group("type"), match.group("id"), match.group("method")
        if scope["method"] == "DELETE" and method is None:
            self.observer.actor_deactivated(actor_type, actor_id)
            await self.app(scope, receive, send)
            return
        if method is None:
            await self.app(scope, receive, send)
            return
        self.observer.actor_call(actor_type, actor_id)
        with self.observer.invocation(
            actor_type,
            "actor",
            traceparent=_header(scope, b"traceparent"),
            tracestate=_header(scope, b"tracestate"),
            actor_id=actor_id,
            attempt=1,
        ) as inv:
            inv.extra = attrs = {
                **_http_attributes(scope),
                "rpc.system": "dapr",
                "rpc.service": actor_type,
                "rpc.method": method,
            }
            capture = _Capture(send, keep_body=False)
            try:
                await self.app(scope, receive, capture)
            finally:
                attrs["http.response.status_code"] = capture.status
            if capture.status >= 500 and inv.error is None:
                inv.fail(RuntimeError(f"the actor answered HTTP {capture.status}"), "error")


def _http_attributes(scope: Scope) -> dict[str, Any]:
    """OpenTelemetry HTTP server attributes of a request (semantic conventions)."""
    return {
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
    }


def _messaging_attributes(event: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry messaging attributes of a delivered CloudEvent (or bulk envelope)."""
    attrs: dict[str, Any] = {
        "messaging.system": "dapr",
        "messaging.operation.type": "process",
        "messaging.destination.name": _str(event.get("topic")),
        "messaging.dapr.pubsub": _str(event.get("pubsubname")),
    }
    if "entries" in event and isinstance(event["entries"], list):
        attrs["messaging.batch.message_count"] = len(event["entries"])
    elif event.get("id") is not None:
        attrs["messaging.message.id"] = _str(event.get("id"))
    return {k: v for k, v in attrs.items() if v is not None}


class _Capture:
    """An ASGI `send` that remembers the status and (optionally) the first bytes of the body."""

    __slots__ = ("body", "keep_body", "send", "status")

    def __init__(self, send: Send, keep_body: bool) -> None:
        self.send = send
        self.status = 500
        self.body = bytearray()
        self.keep_body = keep_body

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif (
            self.keep_body
            and message["type"] == "http.response.body"
            and len(self.body) < _MAX_CAPTURE
        ):
            self.body.extend(message.get("body", b"")[:_MAX_CAPTURE])
        await self.send(message)


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _loads(body: bytes) -> Any:
    if not body or body[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _classify(target: RouteTarget, status: int, body: bytes) -> tuple[str, bool]:
    """(outcome, failed) of a response, read the way daprd reads it (PROTOCOL.md section 1)."""
    drop = "dead_letter" if target.dead_letter else "drop"
    if target.kind == "topic":
        if status == 404:
            return drop, False
        if not 200 <= status < 300:
            return "retry", True
        answer = _loads(body)
        if isinstance(answer, dict):
            if "statuses" in answer:  # bulk: the worst entry decides
                states = {str(s.get("status", "")).upper() for s in answer["statuses"] or ()}
                if "RETRY" in states:
                    return "retry", False
                return (drop, False) if "DROP" in states else ("success", False)
            state = str(answer.get("status") or "SUCCESS").upper()
            if state == "SUCCESS":
                return "success", False
            if state == "DROP":
                return drop, False
            return "retry", False
        return "success", False
    if target.kind == "binding":
        return ("success", False) if 200 <= status < 300 else ("retry", True)
    if status >= 500:
        return "error", True
    return "success", False


def routes_from_definitions(definitions: Iterable[Any]) -> RouteTable:
    """A `RouteTable` for the app routes of funchost definitions (each `http` kind's `routes()`).

    Actor callbacks are recognised by path; workflows and activities are not HTTP routes.
    """
    table = RouteTable()
    for d in definitions:
        target = RouteTarget(d.name, d.kind, bool(getattr(d, "dead_letter_topic", None)))
        for path, methods in d.routes():
            table.add(path, target, list(methods) if methods is not None else None)
    return table
