"""CloudEvents envelopes exactly as daprd builds them (components-contrib pubsub/envelope.go).

Publish side: `envelope(...)` wraps data into the envelope stored on the "broker" (our outbox), or
passes an existing `application/cloudevents+json` event through, overwriting topic, pubsubname
and trace fields. Subscribe side: `from_raw_payload(...)` wraps raw bytes for `rawPayload`
subscribers (octet-stream + `data_base64`).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from ._errors import DaprApiError

CE_CONTENT_TYPE = "application/cloudevents+json"
EVENT_TYPE = "com.dapr.event.sent"
BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"

# Publish metadata `cloudevent.<field>` overrides these envelope fields (daprd >= 1.12).
_OVERRIDABLE = ("id", "source", "type", "traceid", "traceparent", "tracestate", "time", "subject")


def new_traceparent() -> str:
    """A fresh W3C traceparent (sampled)."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def is_json_content_type(content_type: str) -> bool:
    """True for `application/json`, `text/json` and any `+json` type (parameters ignored)."""
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json") or ct == "text/json"


def is_binary_content_type(content_type: str) -> bool:
    """True for `application/octet-stream` (parameters ignored)."""
    return content_type.split(";", 1)[0].strip().lower() == "application/octet-stream"


class MalformedCloudEvent(ValueError):
    """A publish with content type `application/cloudevents+json` whose body is no event."""


def cloud_event_creation_error(pubsub: str, app_id: str, exc: Exception) -> DaprApiError:
    """daprd's refusal of a malformed CloudEvent publish (`PubSubCloudEventCreation`)."""
    message = "cannot create cloudevent"
    return (
        DaprApiError(
            500,
            "ERR_PUBSUB_CLOUD_EVENTS_SER",
            f"{message}: {exc}; send a JSON object or another content type",
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        .with_error_info("DAPR_PUBSUB_CLOUD_EVENT_CREATION", {"appID": app_id, "error": str(exc)})
        .with_resource("pubsub", pubsub, "", message)
    )


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def envelope(
    *,
    data: bytes,
    content_type: str,
    topic: str,
    pubsub: str,
    source: str,
    traceparent: str = "",
    tracestate: str = "",
    metadata: dict[str, str] | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """The CloudEvent daprd publishes for `data` (a passthrough when it already is one)."""
    metadata = metadata or {}
    traceparent = traceparent or new_traceparent()
    if content_type.split(";", 1)[0].strip().lower() == CE_CONTENT_TYPE:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise MalformedCloudEvent(f"the body is not JSON: {exc}") from None
        if not isinstance(event, dict):
            raise MalformedCloudEvent("the body is not a JSON object")
        event.setdefault("id", str(uuid.uuid4()))
        event.setdefault("source", source)
        event.setdefault("type", EVENT_TYPE)
        event.setdefault("specversion", "1.0")
        event.setdefault("datacontenttype", "application/json")
        event["topic"] = topic
        event["pubsubname"] = pubsub
        event["traceid"] = traceparent
        event["traceparent"] = traceparent
        event["tracestate"] = tracestate
        _apply_overrides(event, metadata)
        return event
    ctype = content_type or "text/plain"
    event = {
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_TYPE,
        "specversion": "1.0",
        "datacontenttype": ctype,
        "topic": topic,
        "pubsubname": pubsub,
        "traceid": traceparent,
        "traceparent": traceparent,
        "tracestate": tracestate,
        "time": now or _now_rfc3339(),
    }
    if is_json_content_type(ctype):
        try:
            event["data"] = json.loads(data) if data else None
        except ValueError:
            event["data"] = data.decode("utf-8", "replace")
    elif is_binary_content_type(ctype):
        event["data_base64"] = base64.b64encode(data).decode()
    else:
        try:
            event["data"] = data.decode("utf-8")
        except UnicodeDecodeError:
            event["data_base64"] = base64.b64encode(data).decode()
    _apply_overrides(event, metadata)
    return event


def _apply_overrides(event: dict[str, Any], metadata: dict[str, str]) -> None:
    for field in _OVERRIDABLE:
        value = metadata.get(f"cloudevent.{field}")
        if value:
            event[field] = value


def from_raw_payload(data: bytes, topic: str, pubsub: str) -> dict[str, Any]:
    """The envelope a `rawPayload: "true"` subscriber receives for raw broker bytes."""
    return {
        "id": str(uuid.uuid4()),
        "source": "",
        "type": EVENT_TYPE,
        "specversion": "1.0",
        "datacontenttype": "application/octet-stream",
        "topic": topic,
        "pubsubname": pubsub,
        "time": _now_rfc3339(),
        "data_base64": base64.b64encode(data).decode(),
    }


def dumps(event: dict[str, Any]) -> bytes:
    """Compact JSON bytes of an event."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
