"""`create_app`: turn a registry into a FastAPI app that daprd (or the embedded sidecar) drives."""

from __future__ import annotations

import hmac
import inspect
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from funchost._host import Host
from funchost.plugins import get_plugin_manager
from funchost.registry import Registry
from funchost.settings import Settings
from funchost.units import select_enabled

from .limits import install_body_limit

__all__ = ["TokenMiddleware", "create_app"]

log = logging.getLogger("funchost")
_UNAUTHORIZED = json.dumps(
    {"message": "missing or invalid dapr-api-token header", "errorCode": "ERR_UNAUTHORIZED"}
).encode()


class TokenMiddleware:
    """Reject app-callback requests whose ``dapr-api-token`` header is not ``token`` (401).

    ``/healthz`` and ``/metrics`` stay open (probes and Prometheus scrapes carry no token).
    """

    def __init__(
        self, app: ASGIApp, token: str, open_paths: Iterable[str] = ("/healthz", "/metrics")
    ) -> None:
        self.app = app
        self.token = token.encode()
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            given = b""
            for key, value in scope["headers"]:
                if key == b"dapr-api-token":
                    given = value
                    break
            if not hmac.compare_digest(given, self.token):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": _UNAUTHORIZED})
                return
        await self.app(scope, receive, send)


async def _call_each(hook: Any, reverse: bool = False, **kwargs: Any) -> None:
    """Call every implementation of ``hook`` (awaiting results); log and go on after errors
    when ``reverse`` (shutdown); raise at start-up."""
    impls = hook.get_hookimpls()
    ordered = impls if reverse else list(reversed(impls))
    for impl in ordered:
        args = {k: kwargs[k] for k in impl.argnames}
        try:
            result = impl.function(**args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            if not reverse:
                raise
            log.exception("shutdown hook of plugin %s failed", impl.plugin_name)


def create_app(
    registry: Registry | Iterable[Any] | None = None,
    settings: Settings | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
) -> FastAPI:
    """Build the FastAPI app serving ``registry`` (or an iterable of decorated objects).

    Routes: ``GET /healthz``, ``GET /functions``, ``GET /dapr/subscribe`` and the trigger
    routes added by the ``funchost_wire`` plugins. The lifespan runs the
    ``funchost_startup`` / ``funchost_shutdown`` hooks (actor registration, job scheduling,
    the workflow runtime once the sidecar is healthy) and closes the Dapr clients.
    """
    settings = settings or Settings()
    if not isinstance(registry, Registry):
        registry = Registry(registry or ())
    registry.validate()
    # FUNCHOST_ENABLE: the scale unit this replica serves (funchost.units).
    registry = select_enabled(registry, settings.enable)
    pm = plugin_manager or registry.plugin_manager or get_plugin_manager(entry_points=False)
    host = Host(registry, settings, pm)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        host.export_sdk_env()
        await _call_each(pm.hook.funchost_startup, app=app, registry=registry, settings=settings)
        try:
            yield
        finally:
            await _call_each(
                pm.hook.funchost_shutdown,
                reverse=True,
                app=app,
                registry=registry,
                settings=settings,
            )
            await host.close()

    app = FastAPI(title=f"funchost: {settings.app_id}", lifespan=lifespan)
    app.state.funchost = host
    app.state.registry = registry
    functions = json.dumps(
        {
            "app_id": settings.app_id,
            "functions": registry.describe(),
            "subscriptions": registry.subscriptions(),
        },
        default=str,
    ).encode()

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def list_functions(request: Request) -> Response:
        return Response(functions, media_type="application/json")

    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/functions", list_functions, methods=["GET"], include_in_schema=False)
    pm.hook.funchost_wire(app=app, registry=registry, settings=settings)
    pm.hook.funchost_configure_app(app=app, registry=registry, settings=settings)
    if settings.app_api_token:
        app.add_middleware(TokenMiddleware, token=settings.app_api_token)
    install_body_limit(app)  # outermost: refused before the token check reads anything
    return app
