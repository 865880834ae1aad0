"""The app's request body limit: 413 with a clear message past `FUNCHOST_MAX_BODY_SIZE`.

Default 4Mi, the limit daprd puts on what it accepts (and so forwards) by default; a body larger
than this is refused before the function runs: `413 {"errorCode": "ERR_BODY_TOO_LARGE", ...}`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from .errors import ConfigError

DEFAULT_MAX_BODY_SIZE = "4Mi"
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30}


def max_body_size_from_env() -> tuple[int, str]:
    """(bytes, as written) of `FUNCHOST_MAX_BODY_SIZE` (a quantity: 4Mi, 16M, 1048576)."""
    raw = os.environ.get("FUNCHOST_MAX_BODY_SIZE", "").strip() or DEFAULT_MAX_BODY_SIZE
    match = re.fullmatch(r"(\d+)\s*([kKmMgG]i?)?", raw)
    if match is None or int(match.group(1)) <= 0:
        raise ConfigError(
            f"FUNCHOST_MAX_BODY_SIZE={raw!r} is invalid: use a quantity such as 4Mi, 16Mi or "
            "1048576 (bytes)"
        )
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()], raw


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """ASGI: 413 for a request body over `limit` bytes (Content-Length, or counted as read)."""

    def __init__(self, app: Any, limit: int, setting: str) -> None:
        self.app = app
        self.limit = limit
        self.setting = setting

    async def _refuse(self, send: Any, size: str) -> None:
        message = (
            f"request body of {size} exceeds the app's limit of {self.limit} bytes "
            f"(FUNCHOST_MAX_BODY_SIZE={self.setting}): send less, or raise FUNCHOST_MAX_BODY_SIZE "
            "(and the sidecar's --max-body-size / dapr.io/max-body-size with it)"
        )
        body = json.dumps({"errorCode": "ERR_BODY_TOO_LARGE", "message": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, f"{int(declared)} bytes")
            return
        seen = 0
        started = False

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(send, f"more than {self.limit} bytes (chunked)")


def install_body_limit(app: Any) -> int:
    """Add `BodyLimitMiddleware` (FUNCHOST_MAX_BODY_SIZE) to a Starlette/FastAPI app."""
    limit, setting = max_body_size_from_env()
    app.add_middleware(BodyLimitMiddleware, limit=limit, setting=setting)
    return limit
