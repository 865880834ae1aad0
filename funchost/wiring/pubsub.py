"""@topic wiring: ``GET /dapr/subscribe`` and one lean Starlette route per subscription path.

Outcome mapping (PROTOCOL.md section 1): return -> SUCCESS; `Retry` or any exception ->
RETRY; `Drop` or an invalid payload -> DROP (the sidecar dead-letters it when configured).
Bulk routes reply ``{"statuses": [{"entryId", "status"}]}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from funchost._invoker import (
    InvalidPayload,
    build_handler,
    list_item_type,
    payload_annotation,
    payload_converter,
    wrap,
)
from funchost.context import FunctionContext
from funchost.errors import HandlerSignal
from funchost.plugins import hookimpl
from funchost.triggers import TopicDef
from funchost.wiring._common import JSON, event_data, host_of, parse_delivery

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host
    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.pubsub")

SUCCESS = "SUCCESS"
RETRY = "RETRY"
DROP = "DROP"
_BODIES = {s: json.dumps({"status": s}).encode() for s in (SUCCESS, RETRY, DROP)}


async def _outcome(handler: Any, ctx: FunctionContext, name: str) -> tuple[str, str]:
    """Call ``handler``; the Dapr status string and the reason sent with it (may be empty)."""
    try:
        await handler(ctx)
    except InvalidPayload as exc:
        log.warning("%s: event %s dropped: %s", name, ctx.event_id, exc.reason)
        return DROP, exc.reason
    except HandlerSignal as exc:
        log.info("%s: event %s -> %s %s", name, ctx.event_id, exc.status, exc.reason)
        return exc.status, exc.reason
    except Exception:
        log.exception("%s: event %s failed, asking for a retry", name, ctx.event_id)
        return RETRY, ""
    return SUCCESS, ""


async def run_one(handler: Any, ctx: FunctionContext, name: str) -> str:
    """Call ``handler`` and map the outcome to a Dapr status string."""
    return (await _outcome(handler, ctx, name))[0]


def _start(body: bytes) -> dict[str, Any]:
    """The `http.response.start` of a ``{"status": ...}`` reply (plus ``message`` for DROP/RETRY
    reasons: daprd ignores it), with the headers Starlette's `Response` would send."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON.encode())]
    return {"type": "http.response.start", "status": 200, "headers": headers}


_REPLIES = {
    s: (_start(body), {"type": "http.response.body", "body": body}) for s, body in _BODIES.items()
}


async def _read_body(receive: Any) -> bytes:
    """The request body (as Starlette's `Request.body()`, without the `Request`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class TopicEndpoint:
    """The ASGI app delivering single CloudEvents to one @topic function.

    A plain ASGI app rather than a Starlette endpoint: one event is one small request on the
    delivery hot path, and the answer is one of three constant replies, so no `Request` /
    `Response` objects (nor their wrappers) are built per event. Exceptions still reach the
    app's exception middleware as they would from an endpoint.
    """

    def __init__(self, host: Host, definition: TopicDef) -> None:
        self.host = host
        self.definition = definition
        self.handler = wrap(definition, build_handler(definition), host.pm)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = Headers(scope=scope)
        event, data = parse_delivery(await _read_body(receive), headers)
        ctx = FunctionContext(self.host, self.definition, event=event, data=data, metadata=headers)
        status, reason = await _outcome(self.handler, ctx, self.definition.name)
        if reason:
            body = json.dumps({"status": status, "message": reason}).encode()
            start, end = _start(body), {"type": "http.response.body", "body": body}
        else:
            start, end = _REPLIES[status]
        await send({**start, "headers": list(start["headers"])})  # middleware may edit them
        await send(dict(end))


def topic_endpoint(host: Host, definition: TopicDef) -> Any:
    """The ASGI endpoint delivering single CloudEvents to ``definition``'s function."""
    return TopicEndpoint(host, definition)


def _entry(entry: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
    event = entry.get("event")
    if isinstance(event, dict):
        return event, event_data(event)
    ctype = entry.get("contentType") or ""
    if isinstance(event, str) and "octet-stream" in ctype:
        try:
            return None, base64.b64decode(event)
        except ValueError:
            return None, event
    return None, event


def bulk_endpoint(host: Host, definition: TopicDef) -> Any:
    """The endpoint for bulk deliveries: per-entry calls, or one call with ``list[X]``."""
    fn = definition.target
    annotation = payload_annotation(fn)
    item_type = list_item_type(annotation) if annotation is not None else None
    name = definition.name
    if item_type is None:
        handler = wrap(definition, build_handler(definition), host.pm)

        async def per_entry(request: Request) -> Response:
            body = json.loads(await request.body() or b"{}")
            entries = body.get("entries") or []

            async def one(entry: dict[str, Any]) -> dict[str, str]:
                event, data = _entry(entry)
                meta = entry.get("metadata") or {}
                ctx = FunctionContext(host, definition, event=event, data=data, metadata=meta)
                return {
                    "entryId": entry.get("entryId", ""),
                    "status": await run_one(handler, ctx, name),
                }

            statuses = await asyncio.gather(*(one(e) for e in entries))
            return Response(json.dumps({"statuses": statuses}).encode(), media_type=JSON)

        return per_entry

    convert = payload_converter(item_type)
    batch_handler = wrap(definition, build_handler(definition, convert=lambda v: v), host.pm)

    async def batch(request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        statuses: dict[str, str] = {}
        ids: list[str] = []
        payloads: list[Any] = []
        for entry in body.get("entries") or []:
            entry_id = str(entry.get("entryId", ""))
            _, data = _entry(entry)
            try:
                payloads.append(convert(data))
            except InvalidPayload as exc:
                log.warning("%s: bulk entry %s dropped: %s", name, entry_id, exc.reason)
                statuses[entry_id] = DROP
                continue
            ids.append(entry_id)
        ctx = FunctionContext(host, definition, event=body, data=payloads, metadata=request.headers)
        outcome = SUCCESS
        result: Any = None
        try:
            result = await batch_handler(ctx)
        except HandlerSignal as exc:
            outcome = exc.status
        except Exception:
            log.exception("%s: bulk delivery failed, asking for a retry", name)
            outcome = RETRY
        for entry_id in ids:
            statuses[entry_id] = outcome
        if isinstance(result, dict):
            for key, value in result.items():
                if str(key) in statuses and str(value).upper() in _BODIES:
                    statuses[str(key)] = str(value).upper()
        reply = [{"entryId": k, "status": v} for k, v in statuses.items()]
        return Response(json.dumps({"statuses": reply}).encode(), media_type=JSON)

    return batch


@hookimpl
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Serve ``/dapr/subscribe`` and the delivery routes of every @topic function."""
    host = host_of(app)
    items = json.dumps(registry.subscriptions()).encode()

    async def subscribe(request: Request) -> Response:
        return Response(items, media_type=JSON)

    app.add_route("/dapr/subscribe", subscribe, methods=["GET"], include_in_schema=False)
    served: set[str] = set()
    owned = {t.route for t in registry.topics}
    for definition in registry.topics:
        make = bulk_endpoint if definition.bulk else topic_endpoint
        endpoint = make(host, definition)
        paths = [definition.route] + [
            r.path for r in definition.rules if r.path not in owned and r.path not in served
        ]
        for path in paths:
            if path in served:
                continue
            served.add(path)
            route = Route(path, endpoint, methods=["POST"], include_in_schema=False)
            _add_first(app.router.routes, route)


def _add_first(routes: list[BaseRoute], route: Route) -> None:
    """Put a delivery route ahead of the others (each event is one request: the router then
    matches it first), unless an earlier route already answers a POST to its path: that one
    keeps winning, as it did when routes were only appended."""
    path = route.path
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}
    if any(r.matches(scope)[0] is Match.FULL for r in routes):
        routes.append(route)
    else:
        routes.insert(0, route)
