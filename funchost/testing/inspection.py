"""What a test may look at inside the embedded sidecar: dead letters, the output-binding outbox,
and feeding an input binding. Every function runs on the sidecar's loop.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("funchost.testing")
_RECORDS = "funchost_testing_dead_letters"


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
    """Deliver `data` to the app as input binding `name` would (its component must exist)."""
    body, content_type = _encode(data)
    bindings = sidecar.subsystems.get("bindings")
    feed = getattr(bindings, "feed", None) if bindings is not None else None
    if callable(feed):
        reply = await feed(name, body, dict(metadata))
        return BindingReply(int(reply.status), _decode(reply.body))
    headers = {"Content-Type": content_type, **metadata}
    resp = await sidecar.app.request("POST", f"/{name}", body=body, headers=headers)
    return BindingReply(resp.status, _decode(resp.body))


def instrument(sidecar: Any, records: list[dict[str, Any]] | None = None) -> None:
    """Record every message the pub/sub subsystem dead-letters (or drops for good).

    Wraps the subsystem instance's `_dead_letter(sub, msg, reason)` step; call it after the
    Sidecar is built and before it starts. Records live in memory, in `records` (pass the same
    list to a restarted sidecar to keep them across `crash_and_restart()`).
    """
    records = [] if records is None else records
    setattr(sidecar, _RECORDS, records)
    pubsub = sidecar.subsystems.get("pubsub")
    original = getattr(pubsub, "_dead_letter", None)
    if pubsub is None or not callable(original):
        return

    def recording(sub: Any, msg: Any, reason: str) -> Any:
        try:
            records.append(_dead_letter_record(sub, msg, reason))
        except Exception:
            log.exception("funchost.testing: recording a dead letter failed")
        return original(sub, msg, reason)

    pubsub._dead_letter = recording


def _dead_letter_record(sub: Any, msg: Any, reason: str) -> dict[str, Any]:
    event = msg.event(bool(getattr(sub, "raw", False)))
    data: Any = event.get("data") if isinstance(event, dict) else None
    if isinstance(event, dict) and "data_base64" in event and data is None:
        data = base64.b64decode(event["data_base64"])
    return {
        "pubsub": msg.pubsub,
        "topic": sub.sdef.topic,
        "dead_letter_topic": sub.sdef.dead_letter_topic or None,
        "reason": reason,
        "data": data,
        "event": event,
    }


async def dead_letters(sidecar: Any, topic: str) -> list[dict[str, Any]]:
    """Messages dead-lettered from `topic`, or sent to dead-letter topic `topic`, in order.

    Each is `{"pubsub", "topic", "dead_letter_topic" (None = dropped for good), "reason",
    "data", "event"}`.
    """
    records = getattr(sidecar, _RECORDS, None)
    if records is None or sidecar.subsystems.get("pubsub") is None:
        raise NotImplementedError(
            "dead_letters(): this sidecar's pub/sub subsystem is not instrumented for tests"
        )
    return [r for r in records if topic in (r["topic"], r["dead_letter_topic"])]


async def outbox(sidecar: Any, binding: str) -> list[dict[str, Any]]:
    """Calls to output binding `binding` recorded in the sidecar's local outbox, oldest first.

    Each is `{"id", "binding", "type", "operation", "data" (or "data_base64"), "metadata",
    "created"}`.
    """
    if sidecar.subsystems.get("bindings") is None:
        raise NotImplementedError("outbox(): this sidecar has no bindings subsystem")
    from funchost.sidecar import outbox as local_outbox

    return list(local_outbox.list_outbox(sidecar.store, binding))
