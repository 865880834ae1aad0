"""Shared helpers for the Dapr HTTP API handlers (errors, JSON bodies, metadata query params)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._errors import DaprApiError

Handler = Callable[..., Awaitable[Response]]


def error_response(exc: DaprApiError) -> Response:
    """The JSON error body daprd sends: {"errorCode", "message"}."""
    return JSONResponse(exc.to_json(), status_code=exc.http_status)


def api(handler: Handler) -> Handler:
    """Decorator (functions or methods): render a raised `DaprApiError` as daprd does."""

    @wraps(handler)
    async def wrapped(*args: Any) -> Response:
        try:
            return await handler(*args)
        except DaprApiError as exc:
            return error_response(exc)

    return wrapped


async def json_body(request: Request, error_code: str = "ERR_MALFORMED_REQUEST") -> Any:
    """Parse the request body as JSON, or raise a 400 DaprApiError."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DaprApiError(400, error_code, f"failed deserializing HTTP body: {exc}") from None


def go_fields(obj: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Map JSON object keys onto `names` as Go's encoding/json does (daprd's decoder).

    A key matches the field of the same name, else one whose name equals it ignoring case
    (`entryID` and `EntryId` fill `entryId`); later keys win; unknown keys are dropped.
    """
    folded = {name.casefold(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = key if key in names else folded.get(key.casefold())
        if name is not None:
            out[name] = value
    return out


def query_metadata(request: Request) -> dict[str, str]:
    """Request metadata passed as `metadata.<key>=<value>` query parameters."""
    return {
        k[len("metadata.") :]: v
        for k, v in request.query_params.items()
        if k.startswith("metadata.")
    }


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)
