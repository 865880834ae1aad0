"""Helpers shared by the wiring modules."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from starlette.responses import Response

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host

JSON = "application/json"


def host_of(app: FastAPI) -> Host:
    """The `Host` built by `create_app` (kept on ``app.state.funchost``)."""
    return app.state.funchost  # type: ignore[no-any-return]


def json_response(value: Any, status_code: int = 200) -> Response:
    """Serialize a handler result: Response as is, bytes raw, None empty, else JSON."""
    if isinstance(value, Response):
        return value
    if value is None:
        return Response(status_code=status_code)
    if isinstance(value, bytes):
        return Response(value, status_code=status_code, media_type="application/octet-stream")
    return Response(to_json(value), status_code=status_code, media_type=JSON)


def error_response(message: str, status_code: int = 500, code: str = "ERR_FUNCTION") -> Response:
    """Dapr-style error body ``{"message", "errorCode"}``."""
    body = json.dumps({"message": message, "errorCode": code}).encode()
    return Response(body, status_code=status_code, media_type=JSON)


async def http_outcome(
    handler: Callable[[Any], Awaitable[Any]],
    ctx: Any,
    signals: Callable[[Exception], Response | None],
    log: logging.Logger,
    name: str,
) -> Response:
    """Call `handler(ctx)`: its value as `json_response`; an exception `signals` maps to a
    response (Drop, Retry, an invalid payload...) as that; any other one logged, 500."""
    try:
        result = await handler(ctx)
    except Exception as exc:
        response = signals(exc)
        if response is None:
            log.exception("%s: failed", name)
            response = error_response(f"{type(exc).__name__}: {exc}")
        return response
    return json_response(result)


def decode_body(body: bytes, content_type: str | None) -> Any:
    """Raw request body -> parsed JSON when it is JSON, else the bytes."""
    if not body:
        return None
    if content_type and "json" not in content_type and not content_type.startswith("text/"):
        return body
    try:
        return json.loads(body)
    except ValueError:
        return body


def parse_delivery(body: bytes, headers: Mapping[str, str]) -> tuple[dict[str, Any] | None, Any]:
    """Split a pub/sub delivery into (CloudEvent dict or None, payload data).

    Handles structured CloudEvents (``data`` or ``data_base64``), binary-mode CloudEvents
    (``ce-*`` headers) and raw bodies.
    """
    ctype = headers.get("content-type", "")
    if "ce-id" in headers or "ce-specversion" in headers:
        event = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        if ctype:
            event["datacontenttype"] = ctype
        return event, decode_body(body, ctype)
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return None, body
    if isinstance(parsed, dict) and ("specversion" in parsed or "cloudevents" in ctype):
        return parsed, event_data(parsed)
    return None, parsed


def event_data(event: Mapping[str, Any]) -> Any:
    """The payload of a CloudEvent: bytes for ``data_base64``, else ``data``."""
    raw = event.get("data_base64")
    if raw is not None:
        return base64.b64decode(raw)
    return event.get("data")
