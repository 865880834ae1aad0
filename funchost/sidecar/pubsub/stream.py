"""Streaming subscriptions: gRPC `SubscribeTopicEventsAlpha1` (the SDK's `DaprClient.subscribe`).

The first request names pubsub/topic (and a dead-letter topic); the sidecar answers with an
initial response, then sends each event as a `TopicEventRequest` and waits for the client's
`event_processed{id, status}`: SUCCESS, RETRY (per the Resiliency policy) or DROP, exactly as for
HTTP deliveries. Messages stay in the durable outbox until settled; when the stream ends, events
not yet answered stay there too.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from dapr.proto import api_v1

from .._errors import DaprApiError, abort
from ..cloudevents import is_json_content_type
from ..component import SubscriptionDef
from .delivery import Message, Outcome

_CORE = {
    "id", "source", "type", "specversion", "datacontenttype", "data", "data_base64",
    "topic", "pubsubname",
}  # fmt: skip
_STATUS = {0: Outcome.SUCCESS, 1: Outcome.RETRY, 2: Outcome.DROP}


def topic_event_request(event: dict[str, Any]) -> Any:
    """A CloudEvent as the `TopicEventRequest` streaming subscribers receive."""
    ctype = str(event.get("datacontenttype") or "")
    if "data_base64" in event:
        data = base64.b64decode(event["data_base64"])
    elif "data" in event:
        value = event["data"]
        if isinstance(value, str) and not is_json_content_type(ctype):
            data = value.encode()
        else:
            data = json.dumps(value).encode()
    else:
        data = b""
    req = api_v1.TopicEventRequest(
        id=str(event.get("id") or ""),
        source=str(event.get("source") or ""),
        type=str(event.get("type") or ""),
        spec_version=str(event.get("specversion") or ""),
        data_content_type=ctype,
        data=data,
        topic=str(event.get("topic") or ""),
        pubsub_name=str(event.get("pubsubname") or ""),
    )
    extensions = {k: v for k, v in event.items() if k not in _CORE}
    if extensions:
        req.extensions.update(json.loads(json.dumps(extensions, default=str)))
    return req


class StreamDelivery:
    """The sending side of one subscription stream."""

    def __init__(self) -> None:
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.pending: dict[str, asyncio.Future[int]] = {}

    async def deliver(self, msg: Message, raw: bool) -> Outcome:
        """Send one event on the stream and wait for the client's answer."""
        req = topic_event_request(msg.event(raw))
        while req.id in self.pending:  # same CloudEvent id in flight: one answer at a time
            await asyncio.shield(self.pending[req.id])
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending[req.id] = fut
        self.out.put_nowait(api_v1.SubscribeTopicEventsResponseAlpha1(event_message=req))
        try:
            return _STATUS.get(await fut, Outcome.RETRY)
        finally:
            self.pending.pop(req.id, None)

    def processed(self, event_id: str, status: int) -> None:
        fut = self.pending.get(event_id)
        if fut is not None and not fut.done():
            fut.set_result(status)


async def _read(requests: AsyncIterator[Any], stream: StreamDelivery) -> None:
    async for item in requests:
        if item.HasField("event_processed"):
            stream.processed(item.event_processed.id, int(item.event_processed.status.status))


async def serve_stream(
    pubsub: Any, requests: AsyncIterator[Any], context: Any
) -> AsyncIterator[Any]:
    """The body of the `SubscribeTopicEventsAlpha1` handler."""
    try:
        first = await requests.__anext__()
    except StopAsyncIteration:
        return
    if not first.HasField("initial_request"):
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, "the first message must be an initial_request"
        )
    init = first.initial_request
    sdef = SubscriptionDef(
        pubsubname=init.pubsub_name,
        topic=init.topic,
        dead_letter_topic=init.dead_letter_topic,
        metadata=dict(init.metadata),
        source="stream",
    )
    stream = StreamDelivery()
    try:
        sub = pubsub.add_stream(sdef, stream)
    except DaprApiError as exc:
        await abort(context, exc)
    reader = asyncio.ensure_future(_read(requests, stream))
    getter: asyncio.Future[Any] | None = None
    try:
        yield api_v1.SubscribeTopicEventsResponseAlpha1(
            initial_response=api_v1.SubscribeTopicEventsResponseInitialAlpha1()
        )
        while True:
            getter = asyncio.ensure_future(stream.out.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            yield getter.result()
    finally:
        reader.cancel()
        if getter is not None:
            getter.cancel()
        pubsub.remove_stream(sub)
