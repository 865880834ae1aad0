"""Which app an invocation is for, as daprd finds it (`pkg/api/http/directmessaging.go`).

Three forms: `/v1.0/invoke/<app-id>/method/<method>` (id URL-unescaped), the `dapr-app-id` header
(the whole path is the method; the header is removed before forwarding) and Basic auth
`dapr-app-id:<app-id>`, for a path no Dapr API route matches (daprd's fallback route);
`AppIdFallback` turns the last two into the first, so one route serves all. A target
`<app-id>.<namespace>` names the namespace; more dots are invalid.
"""

from __future__ import annotations

import base64
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote, unquote

import grpc

from .._errors import DaprApiError

INVOKE_PREFIX = "/v1.0/invoke/"


def direct_invoke_error(
    target: str, err: str, grpc_code: grpc.StatusCode | None = None
) -> DaprApiError:
    """daprd's ERR_DIRECT_INVOKE: HTTP 500, gRPC INTERNAL (unless told otherwise)."""
    return DaprApiError(
        500,
        "ERR_DIRECT_INVOKE",
        f"failed to invoke, id: {target}, err: {err}",
        grpc_code or grpc.StatusCode.INTERNAL,
    )


def split_target(target: str, own_namespace: str) -> tuple[str, str]:
    """(app id, namespace) of `target`; ERR_DIRECT_INVOKE for an empty or dotted-twice id."""
    if not target:
        raise direct_invoke_error(target, "app id is empty")
    parts = target.split(".")
    if len(parts) == 1:
        return target, own_namespace
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise direct_invoke_error(target, f"invalid app id {target}")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _basic_auth_app_id(scope: dict[str, Any]) -> str | None:
    auth = _header(scope, b"authorization")
    if not auth or not auth.startswith("Basic "):
        return None
    try:
        pair = base64.b64decode(auth[len("Basic ") :]).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if len(pair) == 2 and pair[0].lower() == "dapr-app-id":
        return pair[1]
    return None


class AppIdFallback:
    """The router's not-found handler, as daprd's direct-messaging fallback route: a request that
    matches no Dapr API route and names its target in `dapr-app-id` (header or Basic auth) is
    served as `/v1.0/invoke/<id>/method/<path>`; the header does not reach the target app."""

    def __init__(self, router: Any, not_found: Any) -> None:
        self.router = router
        self.not_found = not_found

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.not_found(scope, receive, send)
            return
        app_id = _header(scope, b"dapr-app-id")
        headers = scope.get("headers", [])
        if app_id is not None:
            headers = [(k, v) for k, v in headers if k != b"dapr-app-id"]
        else:
            app_id = _basic_auth_app_id(scope)
        if not app_id or scope["path"].startswith(INVOKE_PREFIX):
            await self.not_found(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope["path"].encode()
        method = raw.decode("latin-1").lstrip("/")
        prefix = f"{INVOKE_PREFIX}{quote(app_id, safe='')}/method/"
        scope = dict(scope)
        scope["headers"] = headers
        scope["path"] = prefix + unquote(method)
        scope["raw_path"] = (prefix + method).encode("latin-1")
        scope.pop("path_params", None)
        await self.router(scope, receive, send)


def install_app_id_fallback(app: Any) -> None:
    """Serve `dapr-app-id` requests that match no route of the Starlette `app` as invocations."""
    app.router.default = AppIdFallback(app.router, app.router.default)


def raw_method(scope: MutableMapping[str, Any]) -> tuple[str, str] | None:
    """(target, method) from the raw request path `/v1.0/invoke/<id>/method/<method>`, the
    method left percent-encoded as the caller sent it (daprd reads `RawPath`)."""
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    if not raw.startswith(INVOKE_PREFIX):
        return None
    rest = raw[len(INVOKE_PREFIX) :]
    idx = rest.find("/method/")
    if idx <= 0:
        return None
    return unquote(rest[:idx]), rest[idx + len("/method/") :]
