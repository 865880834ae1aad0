"""One subscription's delivery: the app-response contract and the bulk envelope (PROTOCOL.md §1)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..app_channel import AppResponse
from ..cloudevents import BULK_EVENT_TYPE, from_raw_payload
from ..component import SubscriptionDef
from ..resiliency import RetryPolicy
from ..routing import Router


class Outcome(Enum):
    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"
    NOT_FOUND = "NOT_FOUND"


@dataclass(slots=True)
class Message:
    """A committed (outbox) message on its way to the app."""

    id: int
    pubsub: str
    topic: str
    body: bytes
    metadata: dict[str, str]
    raw: bool
    retries: int = 0
    _event: dict[str, Any] | None = field(default=None, repr=False)
    _raw_event: dict[str, Any] | None = field(default=None, repr=False)
    ref: str = ""  # the broker's id when the message lives in Redis (else the outbox row id)

    def event(self, raw_subscriber: bool) -> dict[str, Any]:
        """The CloudEvent the subscriber sees (parsed once and cached)."""
        if raw_subscriber:
            if self._raw_event is None:
                self._raw_event = from_raw_payload(self.body, self.topic, self.pubsub)
            return self._raw_event
        if self._event is None:
            try:
                parsed = json.loads(self.body)
            except ValueError:
                parsed = None
            self._event = (
                parsed
                if isinstance(parsed, dict)
                else from_raw_payload(self.body, self.topic, self.pubsub)
            )
        return self._event

    def body_for(self, raw_subscriber: bool) -> bytes:
        """The HTTP body for a single delivery: the stored envelope unless it must be rebuilt."""
        if not raw_subscriber and not self.raw:
            return self.body
        return json.dumps(self.event(raw_subscriber), separators=(",", ":")).encode()


#: the commonest answers, read without parsing (any other body is parsed as JSON)
_KNOWN_BODIES = {
    b'{"status": "SUCCESS"}': Outcome.SUCCESS,
    b'{"status":"SUCCESS"}': Outcome.SUCCESS,
}


def classify(resp: AppResponse) -> Outcome:
    """daprd's reading of the app's answer to one event."""
    if resp.status == 404:
        return Outcome.NOT_FOUND
    if not 200 <= resp.status < 300:
        return Outcome.RETRY
    if not resp.body:
        return Outcome.SUCCESS
    known = _KNOWN_BODIES.get(resp.body)
    if known is not None:
        return known
    try:
        doc = json.loads(resp.body)
    except ValueError:
        return Outcome.SUCCESS
    if not isinstance(doc, dict):
        return Outcome.SUCCESS
    status = str(doc.get("status") or "").upper()
    if status in ("", "SUCCESS"):
        return Outcome.SUCCESS
    if status == "DROP":
        return Outcome.DROP
    return Outcome.RETRY


def classify_bulk(resp: AppResponse, entry_ids: list[str]) -> dict[str, Outcome]:
    """Per-entry outcomes of a bulk delivery; a missing entry or empty status is a RETRY."""
    if resp.status == 404:
        return dict.fromkeys(entry_ids, Outcome.NOT_FOUND)
    if not 200 <= resp.status < 300:
        return dict.fromkeys(entry_ids, Outcome.RETRY)
    try:
        doc = json.loads(resp.body) if resp.body else {}
    except ValueError:
        doc = {}
    statuses: dict[str, str] = {}
    for item in (doc.get("statuses") if isinstance(doc, dict) else None) or []:
        if isinstance(item, dict) and item.get("entryId") is not None:
            statuses[str(item["entryId"])] = str(item.get("status") or "").upper()
    out: dict[str, Outcome] = {}
    for entry_id in entry_ids:
        status = statuses.get(entry_id, "")
        out[entry_id] = (
            Outcome.SUCCESS
            if status == "SUCCESS"
            else Outcome.DROP
            if status == "DROP"
            else Outcome.RETRY
        )
    return out


def bulk_envelope(
    sub: SubscriptionDef, messages: list[Message], raw_subscriber: bool
) -> dict[str, Any]:
    """The `com.dapr.event.sent.bulk` body for a batch."""
    return {
        "id": str(uuid.uuid4()),
        "type": BULK_EVENT_TYPE,
        "topic": sub.topic,
        "pubsubname": sub.pubsubname,
        "metadata": dict(sub.metadata),
        "entries": [
            {
                "entryId": str(m.id),
                "event": m.event(raw_subscriber),
                "metadata": m.metadata,
                "contentType": "application/cloudevents+json",
            }
            for m in messages
        ],
    }


class DeliveryQueue(asyncio.Queue[Message]):
    """FIFO of messages to deliver, except that due retries go ahead of the backlog.

    A retry is queued when its policy delay has passed; behind a backlog of thousands of new
    messages it would wait for all of them, and retries would be spaced by the backlog instead
    of the policy (a 200 ms constant policy seen as 2 s apart). Retries keep their own order.
    """

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)  # type: ignore[misc]
        self._retries_ahead = 0

    def _put(self, item: Message) -> None:
        queue: deque[Message] = self._queue  # type: ignore[attr-defined]
        if item.retries:
            queue.insert(self._retries_ahead, item)
            self._retries_ahead += 1
        else:
            queue.append(item)

    def _get(self) -> Message:
        if self._retries_ahead:
            self._retries_ahead -= 1
        queue: deque[Message] = self._queue  # type: ignore[attr-defined]
        return queue.popleft()


class ActiveSubscription:
    """A subscription with its compiled router, retry policy, queue and counters."""

    def __init__(self, sdef: SubscriptionDef, retry: RetryPolicy) -> None:
        self.sdef = sdef
        self.router = Router(sdef.rules, sdef.default, sdef.route)
        self.retry = retry
        self.raw = str(sdef.metadata.get("rawPayload", "")).lower() == "true"
        self.queue: asyncio.Queue[Message] = DeliveryQueue()
        self.inflight = 0
        self.workers: list[asyncio.Task[None]] = []
        self.timeout: float | None = None  # per-delivery timeout from the Resiliency policy
        self.stream: Any = None  # a StreamDelivery for gRPC streaming subscriptions

    @property
    def key(self) -> tuple[str, str]:
        return (self.sdef.pubsubname, self.sdef.topic)

    def path_for(self, msg: Message) -> str:
        if self.router.needs_event:
            return self.router.route(msg.event(self.raw))
        return self.router.default

    def headers_for(self, msg: Message) -> dict[str, str]:
        """Content type, the event's W3C trace headers (as daprd sends them), then metadata."""
        headers = {"Content-Type": "application/cloudevents+json"}
        for name in ("traceparent", "tracestate"):
            value = _json_string_field(msg.body, name)
            if value:
                headers[name] = value
        for k, v in msg.metadata.items():
            if k.isascii() and v.isascii() and k.lower() not in ("content-type", "content-length"):
                headers[k] = v
        return headers


def _json_string_field(body: bytes, name: str) -> str:
    """A top-level-looking `"name":"value"` string in compact JSON, without parsing it all."""
    marker = b'"' + name.encode() + b'":"'
    start = body.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    end = body.find(b'"', start)
    if end < 0:
        return ""
    value = body[start:end]
    return value.decode("ascii") if value.isascii() and b"\\" not in value else ""
