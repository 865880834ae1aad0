"""The built-in observability plugin (registered by `funchost.plugins.builtin_plugins`).

- `funchost_configure_app`: one `Observer` per app (`app.state.observer`, `host.observer`),
  `GET /metrics`, `GET /_funchost/recent` (last invocations), and the ASGI middleware that
  observes actor calls and activations.
- `funchost_wrap_handler`: every topic / binding / cron / invoke call runs inside an
  invocation scope: trace context from the CloudEvent or the `traceparent` header, event id,
  attempt, metrics by outcome (Retry / Drop / exceptions), a span when tracing is on.
- `funchost_shutdown`: flush the tracer.
Set `FUNCHOST_OBSERVABILITY=off` to turn scopes, metrics and spans off (`/metrics` stays).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from funchost.plugins import hookimpl

from .middleware import ObservabilityMiddleware, RouteTable
from .observer import Observer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost.registry import Registry
    from funchost.settings import Settings
    from funchost.triggers import Definition

__all__ = ["RECENT_PATH", "observer_of"]

#: The app route listing the last invocations (newest first), read by `funchost status`.
RECENT_PATH = "/_funchost/recent"


def observer_of(app_or_host: Any) -> Observer | None:
    """The `Observer` of an app (FastAPI app or its `Host`), if the plugin configured one."""
    state = getattr(app_or_host, "state", None)
    if state is not None:
        return getattr(state, "observer", None)
    return getattr(app_or_host, "observer", None)


@hookimpl
def funchost_configure_app(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Create the app's observer, serve `/metrics`, observe actor callbacks."""
    observer = Observer.from_env(service_name=str(getattr(settings, "app_id", "funchost")))
    app.state.observer = observer
    host = getattr(app.state, "funchost", None)
    if host is not None:
        host.observer = observer

    async def metrics(request: Request) -> Response:
        return Response(observer.metrics.render(), media_type=observer.metrics.content_type)

    async def recent(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "50"))
        return JSONResponse({"invocations": observer.recent_invocations(limit)})

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_route(RECENT_PATH, recent, methods=["GET"], include_in_schema=False)
    if observer.enabled and getattr(registry, "actors", None):
        app.add_middleware(ObservabilityMiddleware, observer=observer, routes=RouteTable())


@hookimpl
def funchost_shutdown(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Flush and stop the tracer."""
    observer = observer_of(app)
    if observer is not None and observer.tracing is not None:
        observer.tracing.shutdown()


def _trace_fields(ctx: Any) -> tuple[str | None, str | None]:
    meta = getattr(ctx, "metadata", None) or {}
    return meta.get("traceparent"), meta.get("tracestate")


@hookimpl
def funchost_wrap_handler(
    definition: Definition, handler: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]] | None:
    """Run each call of an HTTP-triggered function inside an observed invocation."""
    kind = definition.kind
    if not definition.http:
        return None
    name = definition.name
    drop = "dead_letter" if getattr(definition, "dead_letter_topic", None) else "drop"
    failure = "retry" if definition.retried else "error"

    async def observed(ctx: Any, *args: Any) -> Any:
        observer: Observer | None = getattr(getattr(ctx, "host", None), "observer", None)
        if observer is None or not observer.enabled:
            return await handler(ctx, *args)
        event = ctx.event
        if event is not None and "entries" not in event:
            event_id = event.get("id")
            traceparent = event.get("traceparent")
            tracestate = event.get("tracestate") if traceparent else None
        else:
            event_id = None
            traceparent = tracestate = None
        if not traceparent:
            traceparent, tracestate = _trace_fields(ctx)
        with observer.invocation(
            name,
            kind,
            traceparent=traceparent,
            tracestate=tracestate or None,
            event_id=str(event_id) if event_id else None,
        ) as inv:
            try:
                return await handler(ctx, *args)
            except Exception as exc:
                status = getattr(exc, "status", None)
                if _client_error(exc):
                    # a 4xx the handler answered on purpose (404, 409...): an outcome
                    inv.outcome, inv.error = "rejected", exc
                elif status == "DROP":
                    inv.outcome, inv.error = drop, exc
                elif status == "RETRY":
                    inv.outcome, inv.error = failure, exc
                else:
                    inv.fail(exc, failure)
                raise

    return observed


def _client_error(exc: BaseException) -> bool:
    """An `HTTPException` with a 4xx status: the handler's answer, not a failure."""
    code = getattr(exc, "status_code", None)
    return isinstance(code, int) and 400 <= code < 500 and type(exc).__name__ == "HTTPException"
