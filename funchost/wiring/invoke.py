"""@invoke wiring: service-invocation methods (``<VERB> /<method>``) with path parameters.

Return -> 200 with the value as JSON (None -> empty 200; a starlette Response is sent as
is); an invalid body or path parameter -> 422; `HTTPException` -> its status; `Drop` ->
400; `Retry` -> 503; any other exception -> 500 ``{"message", "errorCode"}``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from funchost._invoker import InvalidPayload, build_handler, wrap
from funchost.context import FunctionContext
from funchost.errors import Drop, Retry
from funchost.plugins import hookimpl
from funchost.triggers import InvokeDef
from funchost.wiring._common import decode_body, error_response, host_of, http_outcome

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host
    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.invoke")


def invoke_endpoint(host: Host, definition: InvokeDef) -> Any:
    """The endpoint calling an @invoke function."""
    params = tuple(re.findall(r"{([^}:]+)(?::[^}]*)?}", definition.route))
    handler = wrap(definition, build_handler(definition, path_params=params), host.pm)
    name = definition.name

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        data = decode_body(body, request.headers.get("content-type"))
        ctx = FunctionContext(
            host,
            definition,
            data=data,
            metadata=request.headers,
            request=request,
            path_params=request.path_params,
        )
        return await http_outcome(handler, ctx, _signals, log, name)

    return endpoint


def _signals(exc: Exception) -> Response | None:
    if isinstance(exc, InvalidPayload):
        body = {"message": exc.reason, "errorCode": "ERR_INVALID_PAYLOAD", "errors": exc.errors}
        return JSONResponse(body, status_code=422)
    if isinstance(exc, HTTPException):
        raise exc
    if isinstance(exc, Drop):
        return error_response(exc.reason or "rejected", 400, "ERR_REJECTED")
    if isinstance(exc, Retry):
        return error_response(exc.reason or "try again", 503, "ERR_RETRY")
    return None


@hookimpl
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Add a route per @invoke function."""
    host = host_of(app)
    for definition in registry.invokes:
        app.add_route(
            definition.route,
            invoke_endpoint(host, definition),
            methods=list(definition.methods),
            include_in_schema=False,
        )
