"""A CloudEvent as daprd delivers it to an app route (PROTOCOL.md section 1), for the host tests
and `bench/dispatch.py`."""

from __future__ import annotations

from typing import Any

CE = "application/cloudevents+json"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def cloudevent(data: Any = None, **extra: Any) -> dict[str, Any]:
    """The envelope daprd sends for a message published on pubsub/orders; `extra` overrides."""
    event = {
        "id": "5929aaac-a5e2-4ca1-859c-edfe73f11565",
        "specversion": "1.0",
        "source": "publisher-app",
        "type": "com.dapr.event.sent",
        "datacontenttype": "application/json",
        "topic": "orders",
        "pubsubname": "pubsub",
        "traceid": TRACEPARENT,
        "traceparent": TRACEPARENT,
        "tracestate": "",
        "time": "2024-05-01T10:00:00Z",
    }
    if data is not None:
        event["data"] = data
    event.update(extra)
    return event
