"""DAPR_API_TOKEN enforcement on the sidecar's HTTP and gRPC APIs, as daprd does it."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

# Paths daprd leaves open even when an API token is set, plus the embedded sidecar's Prometheus
# endpoint (daprd serves its metrics on a separate port that takes no token either).
OPEN_PATHS = ("/v1.0/healthz", "/v1.0/healthz/outbound", "/metrics")
# Sidecar-to-sidecar invocation (daprd's internal gRPC port, which takes no API token either).
INTERNAL_PREFIX = "/funchost/internal/"


def _token_ok(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class ApiTokenMiddleware:
    """ASGI middleware: 401 unless the `dapr-api-token` header matches."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(INTERNAL_PREFIX):
            await self.app(scope, receive, send)
            return
        given = None
        for key, value in scope.get("headers", []):
            if key == b"dapr-api-token":
                given = value.decode("latin-1")
                break
        if _token_ok(given, self.token):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"errorCode": "ERR_API_TOKEN", "message": "invalid or missing dapr-api-token header"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _GrpcTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

        async def deny_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "missing or invalid dapr-api-token"
            )

        async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "missing or invalid dapr-api-token"
            )
            yield None  # pragma: no cover

        self._deny = {
            (False, False): grpc.unary_unary_rpc_method_handler(deny_unary),
            (False, True): grpc.unary_stream_rpc_method_handler(deny_stream),
            (True, False): grpc.stream_unary_rpc_method_handler(deny_unary),
            (True, True): grpc.stream_stream_rpc_method_handler(deny_stream),
        }

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        md = dict(handler_call_details.invocation_metadata or ())
        if _token_ok(md.get("dapr-api-token"), self.token):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # type: ignore[return-value]
        return self._deny[(handler.request_streaming, handler.response_streaming)]


def grpc_token_interceptors(token: str | None) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors to install on the gRPC server for `token` (none when unset)."""
    return [_GrpcTokenInterceptor(token)] if token else []
