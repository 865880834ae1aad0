"""The daprd actor HTTP API under `/v1.0/actors/{type}/{id}` (routes of `ActorsSubsystem`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ..app_channel import AppUnavailable
from ._turns import StackDepthExceeded
from .durations import DurationError
from .state import StateOpError, parse_ops

if TYPE_CHECKING:
    from .subsystem import ActorsSubsystem

BASE = "/{actor_type}/{actor_id}"
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}


def error(status: int, code: str, message: str) -> JSONResponse:
    """A daprd-style error body."""
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def actor_routes(sub: ActorsSubsystem) -> list[BaseRoute]:
    """Every actor route, bound to the subsystem."""

    def ids(request: Request) -> tuple[str, str]:
        return request.path_params["actor_type"], request.path_params["actor_id"]

    def missing(actor_type: str, status: int = 400) -> JSONResponse | None:
        if sub.config_error:
            return error(500, "ERR_ACTOR_RUNTIME_NOT_FOUND", sub.config_error)
        if actor_type in sub.config.types:
            return None
        return error(status, "ERR_ACTOR_INSTANCE_MISSING", sub.unknown_type_message(actor_type))

    async def json_body(request: Request) -> Any:
        raw = await request.body()
        return json.loads(raw) if raw.strip() else {}

    async def invoke(request: Request) -> Response:
        actor_type, actor_id = ids(request)
        if (resp := missing(actor_type, 500)) is not None:
            return resp
        body = await request.body()
        try:
            app = await sub.invoke(
                actor_type,
                actor_id,
                request.path_params["method"],
                body,
                request.headers,
                request.headers.get("dapr-reentrancy-id"),
            )
        except StackDepthExceeded as exc:
            return error(500, "ERR_ACTOR_INVOKE_METHOD", f"error invoke actor method: {exc}")
        except AppUnavailable as exc:
            return error(500, "ERR_ACTOR_INVOKE_METHOD", f"error invoke actor method: {exc}")
        headers = {k: v for k, v in app.headers.items() if k.lower() not in _HOP_HEADERS}
        return Response(app.body, status_code=app.status, headers=headers)

    async def get_state(request: Request) -> Response:
        actor_type, actor_id = ids(request)
        if (resp := missing(actor_type)) is not None:
            return resp
        found = sub.state.get(actor_type, actor_id, request.path_params["key"])
        if found is None:
            return Response(status_code=204)
        headers = {"Content-Type": "application/json"}
        if found.expires is not None:
            when = datetime.fromtimestamp(found.expires, UTC)
            headers["Metadata.ttlExpireTime"] = when.isoformat().replace("+00:00", "Z")
        return Response(found.value, status_code=200, headers=headers)

    async def transact(request: Request) -> Response:
        actor_type, actor_id = ids(request)
        try:
            ops = parse_ops(await request.body())
        except StateOpError as exc:
            return error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {exc}")
        if (resp := missing(actor_type)) is not None:
            return resp
        try:
            sub.state.transact(actor_type, actor_id, ops)
        except Exception as exc:
            return error(
                500,
                "ERR_ACTOR_STATE_TRANSACTION_SAVE",
                f"error saving actor transactional state: {exc}",
            )
        return Response(status_code=204)

    async def reminder(request: Request) -> Response:
        actor_type, actor_id = ids(request)
        name = request.path_params["name"]
        if request.method == "GET":
            found = sub.reminders.get(actor_type, actor_id, name)
            if found is None:
                return error(
                    404,
                    "ERR_ACTOR_REMINDER_GET",
                    f"error getting actor reminder: reminder {name!r} not found for "
                    f"actor {actor_type}/{actor_id}",
                )
            return JSONResponse(found.api_doc())
        if request.method == "DELETE":
            sub.reminders.delete(actor_type, actor_id, name)
            return Response(status_code=204)
        if (resp := missing(actor_type)) is not None:
            return resp
        try:
            body = await json_body(request)
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            sub.reminders.register(actor_type, actor_id, name, body)
        except (ValueError, DurationError) as exc:
            return error(400, "ERR_MALFORMED_REQUEST", f"error creating actor reminder: {exc}")
        return Response(status_code=204)

    async def timer(request: Request) -> Response:
        actor_type, actor_id = ids(request)
        name = request.path_params["name"]
        if request.method == "DELETE":
            sub.timers.delete(actor_type, actor_id, name)
            return Response(status_code=204)
        if (resp := missing(actor_type)) is not None:
            return resp
        try:
            body = await json_body(request)
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            sub.activate(actor_type, actor_id)
            sub.timers.register(actor_type, actor_id, name, body)
        except (ValueError, DurationError) as exc:
            return error(400, "ERR_MALFORMED_REQUEST", f"error creating actor timer: {exc}")
        return Response(status_code=204)

    # One Mount: other subsystems' requests skip the actor routes with a single prefix test.
    routes = [
        Route(BASE + "/method/{method}", invoke, methods=["POST", "PUT", "GET", "DELETE", "PATCH"]),
        Route(BASE + "/state/{key}", get_state, methods=["GET"]),
        Route(BASE + "/state", transact, methods=["POST", "PUT"]),
        Route(BASE + "/reminders/{name}", reminder, methods=["POST", "PUT", "GET", "DELETE"]),
        Route(BASE + "/timers/{name}", timer, methods=["POST", "PUT", "DELETE"]),
    ]
    return [Mount("/v1.0/actors", routes=routes)]
