"""What a test may look at inside the embedded sidecar: dead letters, the output-binding outbox,
and feeding an input binding. Every function runs on the sidecar's loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BindingReply:
    """What the app answered to an input-binding event."""

    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _encode(data: Any) -> tuple[bytes, str]:
    if isinstance(data, bytes):
        return data, "application/octet-stream"
    if isinstance(data, str):
        return data.encode(), "text/plain"
    return json.dumps(data).encode(), "application/json"


async def send_binding(
    sidecar: Any, name: str, data: Any, metadata: dict[str, str]
) -> BindingReply:
    """Deliver `data` to the app as input binding `name` would (POST /<name>)."""
    body, content_type = _encode(data)
    bindings = sidecar.subsystems.get("bindings")
    feed = getattr(bindings, "send_input", None) if bindings is not None else None
    if callable(feed):
        reply = await feed(name, body, dict(metadata))
        status = int(getattr(reply, "status", 200))
        return BindingReply(status, _decode(getattr(reply, "body", b"") or b""))
    headers = {"Content-Type": content_type, **metadata}
    resp = await sidecar.app.request("POST", f"/{name}", body=body, headers=headers)
    return BindingReply(resp.status, _decode(resp.body))


async def dead_letters(sidecar: Any, topic: str) -> list[Any]:
    """Payloads dead-lettered from `topic` (or published to dead-letter topic `topic`)."""
    pubsub = sidecar.subsystems.get("pubsub")
    fn = getattr(pubsub, "dead_letters", None) if pubsub is not None else None
    if not callable(fn):
        raise NotImplementedError(
            "dead_letters(): the embedded sidecar has no pub/sub subsystem exposing dead letters"
        )
    result = fn(topic)
    if hasattr(result, "__await__"):
        result = await result
    return list(result)


async def outbox(sidecar: Any, binding: str) -> list[Any]:
    """What was sent to output binding `binding` that the sidecar does not deliver."""
    bindings = sidecar.subsystems.get("bindings")
    fn = getattr(bindings, "outbox", None) if bindings is not None else None
    if not callable(fn):
        raise NotImplementedError(
            "outbox(): the embedded sidecar has no bindings subsystem exposing its outbox yet"
        )
    result = fn(binding)
    if hasattr(result, "__await__"):
        result = await result
    return list(result)
