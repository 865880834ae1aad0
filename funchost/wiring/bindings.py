"""@binding wiring: ``OPTIONS /<name>`` (start-up probe) and ``POST /<name>`` (delivery).

Return -> 200 (a returned value is sent back as JSON); `Drop` -> 200 (acknowledged and
discarded); an invalid payload -> 400; `Retry` or any exception -> 500, so the binding
component sees the error and retries per its resiliency policy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from funchost._invoker import InvalidPayload, build_handler, wrap
from funchost.context import FunctionContext
from funchost.errors import Drop, Retry
from funchost.plugins import hookimpl
from funchost.triggers import BindingDef, CronDef, Definition
from funchost.wiring._common import decode_body, error_response, host_of, http_outcome

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host
    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.bindings")


async def probe(request: Request) -> Response:
    """Answer daprd's ``OPTIONS /<name>`` start-up probe: the app listens."""
    return Response(status_code=200)


def delivery_endpoint(host: Host, definition: Definition) -> Any:
    """``POST`` endpoint calling the function with the raw body (validated when typed)."""
    handler = wrap(definition, build_handler(definition), host.pm)
    name = definition.name

    def signals(exc: Exception) -> Response | None:
        if isinstance(exc, InvalidPayload):
            log.warning("%s: invalid payload: %s", name, exc.reason)
            return error_response(exc.reason, 400, "ERR_INVALID_PAYLOAD")
        if isinstance(exc, Drop):
            log.info("%s: event dropped: %s", name, exc.reason)
            return Response(status_code=200)
        if isinstance(exc, Retry):
            log.info("%s: retry requested: %s", name, exc.reason)
            return error_response(exc.reason or "retry", 500, "ERR_RETRY")
        return None

    async def endpoint(request: Request) -> Response:
        headers = request.headers
        data = decode_body(await request.body(), headers.get("content-type"))
        ctx = FunctionContext(host, definition, data=data, metadata=headers)
        return await http_outcome(handler, ctx, signals, log, name)

    return endpoint


@hookimpl
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Serve the input bindings (and the per-replica ``bindings.cron`` schedules)."""
    host = host_of(app)
    defs: list[BindingDef | CronDef] = [*registry.bindings]
    defs += [c for c in registry.crons if c.per_replica]
    for definition in defs:
        app.add_route(definition.route, probe, methods=["OPTIONS"], include_in_schema=False)
        app.add_route(
            definition.route,
            delivery_endpoint(host, definition),
            methods=["POST"],
            include_in_schema=False,
        )
