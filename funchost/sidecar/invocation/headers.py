"""What crosses each invocation hop, as daprd does it (`pkg/messaging/v1/util.go`,
`direct_messaging.go: invokeRemote`).

Hop-by-hop headers never cross; the calling sidecar stamps `dapr-caller-app-id`,
`dapr-caller-namespace`, `dapr-callee-app-id` (overwriting what the caller sent), appends
`X-Forwarded-For`, `X-Forwarded-Host` and `Forwarded`, and carries the W3C trace context: the
caller's trace id with a new span id, or a new trace.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping

#: never forwarded, either direction (RFC 7230 hop-by-hop, plus what the hop recomputes)
HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "http2-settings",
        "proxy-authorization",
        "proxy-authenticate",
        "dapr-api-token",
        "dapr-app-id",
        "destination-app-id",
    }
)
#: stamped by the calling sidecar, never taken from the caller
IDENTITY = ("dapr-caller-app-id", "dapr-caller-namespace", "dapr-callee-app-id")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_HOSTNAME = socket.gethostname()


def child_traceparent(parent: str | None) -> str:
    """A traceparent for the next hop: same trace id and flags, new span id; new when absent."""
    m = _TRACEPARENT.match((parent or "").strip().lower())
    if m is None:
        return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"
    return f"{m.group(1)}-{m.group(2)}-{os.urandom(8).hex()}-{m.group(4)}"


def _drop(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for key, value in headers:
        lower = key.lower()
        if lower in HOP_BY_HOP or lower.startswith(":"):
            continue
        out.append((key, value))
    return out


def outbound(
    headers: Iterable[tuple[str, str]],
    caller_app_id: str,
    caller_namespace: str,
    callee_app_id: str,
) -> dict[str, str]:
    """Headers the calling sidecar sends to the target sidecar (repeated headers joined)."""
    kept: dict[str, str] = {}
    for key, value in _drop(headers):
        lower = key.lower()
        if lower in IDENTITY:
            continue
        kept[lower] = f"{kept[lower]}, {value}" if lower in kept else value
    for name, value in (
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-host", _HOSTNAME),
        ("forwarded", f"for=127.0.0.1;by=127.0.0.1;host={_HOSTNAME}"),
    ):
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    kept["traceparent"] = child_traceparent(kept.get("traceparent"))
    kept["dapr-caller-app-id"] = caller_app_id
    kept["dapr-caller-namespace"] = caller_namespace
    kept["dapr-callee-app-id"] = callee_app_id
    return kept


def to_app(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers the target sidecar sends on to its app (caller identity kept as stamped)."""
    out: dict[str, str] = {}
    for key, value in _drop(headers):
        lower = key.lower()
        out[lower] = f"{out[lower]}, {value}" if lower in out else value
    return out


def from_app(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers passed back to the caller (hop-by-hop and server-set ones dropped)."""
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server")
    }
