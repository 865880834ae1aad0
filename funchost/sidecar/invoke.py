"""Service invocation: `/v1.0/invoke/<app-id>/method/<method>` proxied to this sidecar's app.

Method, headers, query string and body are preserved both ways. The embedded sidecar is a single
app: another app id answers daprd's ERR_DIRECT_INVOKE (HTTP 500, gRPC INTERNAL).
"""

from __future__ import annotations

from typing import Any

import grpc
from dapr.proto.common.v1 import common_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError
from .app_channel import AppUnavailable
from .http_api import api
from .subsystem import Subsystem

_HOP = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "dapr-api-token",
}
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class InvokeSubsystem(Subsystem):
    """Proxies service invocation to the local app."""

    name = "invoke"

    def _target(self, app_id: str) -> None:
        own = self.sidecar.config.app_id
        if self.sidecar.config.enable_app_health_check and not self.sidecar.app.ready.is_set():
            from .app_channel.health import APP_UNHEALTHY

            raise DaprApiError(
                500,
                "ERR_DIRECT_INVOKE",
                f"failed to invoke, id: {app_id}, err: {APP_UNHEALTHY}",
                grpc.StatusCode.INTERNAL,
            )
        if app_id.split(".", 1)[0] != own:
            raise DaprApiError(
                500,
                "ERR_DIRECT_INVOKE",
                f"failed to invoke, id: {app_id}, err: couldn't find service: {app_id} "
                f"(the embedded sidecar only knows its own app {own!r}; run the other app "
                "under daprd or call it directly)",
                grpc.StatusCode.INTERNAL,
            )

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/invoke/{app_id}/method/{method:path}", self._http_invoke, methods=_METHODS)
        ]

    @api
    async def _http_invoke(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        self._target(app_id)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        try:
            resp = await self.sidecar.app.request(
                request.method,
                "/" + request.path_params["method"],
                body=await request.body(),
                headers=headers,
                params=request.url.query or None,
            )
        except AppUnavailable as exc:
            raise DaprApiError(
                500,
                "ERR_DIRECT_INVOKE",
                f"failed to invoke, id: {app_id}, err: {exc}",
                grpc.StatusCode.UNAVAILABLE,
            ) from None
        out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
        return Response(resp.body, status_code=resp.status, headers=out_headers)

    async def invoke_grpc(self, request: Any, context: Any) -> Any:
        """gRPC InvokeService over the HTTP app channel (verb/querystring from http_extension)."""
        self._target(request.id)
        msg = request.message
        if self.sidecar.app.protocol == "grpc":
            return await self._grpc_to_grpc(msg, context)
        verb_value = msg.http_extension.verb if msg.HasField("http_extension") else 0
        verb = common_pb2.HTTPExtension.Verb.Name(verb_value) if verb_value else "POST"
        headers = {"Content-Type": msg.content_type} if msg.content_type else {}
        try:
            resp = await self.sidecar.app.request(
                verb,
                "/" + msg.method,
                body=bytes(msg.data.value),
                headers=headers,
                params=msg.http_extension.querystring or None,
            )
        except AppUnavailable as exc:
            raise DaprApiError(
                500, "ERR_DIRECT_INVOKE", str(exc), grpc.StatusCode.UNAVAILABLE
            ) from None
        if resp.status >= 400:
            await context.abort(
                grpc.StatusCode.UNKNOWN, resp.body.decode("utf-8", "replace") or str(resp.status)
            )
        out = common_pb2.InvokeResponse(
            content_type=resp.headers.get("Content-Type") or resp.headers.get("content-type") or ""
        )
        out.data.value = resp.body
        return out

    async def _grpc_to_grpc(self, msg: Any, context: Any) -> Any:
        """gRPC caller -> gRPC app: the InvokeRequest and the app's status pass through."""
        from .app_channel.grpc_wire import invoke_metadata

        caller = {str(k): str(v) for k, v in context.invocation_metadata() or () if ":" not in k}
        try:
            resp = await self.sidecar.app.invoke(msg, invoke_metadata(caller))  # type: ignore[attr-defined]
        except AppUnavailable as exc:
            raise DaprApiError(
                500, "ERR_DIRECT_INVOKE", str(exc), grpc.StatusCode.UNAVAILABLE
            ) from None
        if resp.grpc_code not in (None, grpc.StatusCode.OK):
            await context.abort(resp.grpc_code, resp.grpc_message)
        out = common_pb2.InvokeResponse(content_type=resp.headers.get("Content-Type", ""))
        out.data.type_url = resp.type_url
        out.data.value = resp.body
        if resp.type_url:
            out.content_type = ""
        return out
