"""Request body limit of the sidecar's HTTP and gRPC servers, as daprd's `--max-body-size`.

daprd caps request bodies at 4Mi by default (`--max-body-size`, Kubernetes annotation
`dapr.io/max-body-size`; deprecated `--dapr-http-max-request-size` / `dapr.io/http-max-request-size`
in MB). Over HTTP it has no dedicated 413: reading the body fails with `stream too large` and the
handler maps that read error as any other (state save: 400 ERR_MALFORMED_REQUEST; publish: 500
ERR_PUBSUB_PUBLISH_MESSAGE). gRPC uses it as the server's max receive message size
(RESOURCE_EXHAUSTED from the gRPC library).
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_MAX_BODY_SIZE = 4 << 20
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30}


def parse_size(text: str | int) -> int:
    """Bytes of a Kubernetes-style quantity: `4Mi`, `16M`, `1048576`."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]i?)?\s*", text)
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(
            f"max body size {text!r} is invalid: use a quantity such as 4Mi, 16Mi or 1048576"
        )
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


class BodyTooLarge(Exception):
    """Reading a request body past the limit (daprd's `stream too large`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"stream too large: the request body exceeds the sidecar's max body size of "
            f"{limit} bytes (daprd --max-body-size, default 4Mi; funchost --dapr-max-body-size "
            "or FUNCHOST_DAPR_MAX_BODY_SIZE; on Kubernetes the dapr.io/max-body-size annotation)"
        )
        self.limit = limit


class MaxBodySizeMiddleware:
    """ASGI: body reads past `limit` bytes raise `BodyTooLarge` (Content-Length checked first)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > limit
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            if too_big:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


def body_too_large_handlers() -> dict[Any, Any]:
    """Starlette exception handler: `BodyTooLarge` as daprd's read error (400, JSON)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        body = {"errorCode": "ERR_MALFORMED_REQUEST", "message": str(exc)}
        return JSONResponse(body, status_code=400)

    return {BodyTooLarge: handler}
