"""Publishing from code that has no `FunctionContext` (actors, workflow activities)."""

from __future__ import annotations

from dapr.aio.clients import DaprClient
from pydantic import BaseModel

from .models import PUBSUB


async def publish(topic: str, event: BaseModel) -> None:
    """Publish `event` as JSON on `topic` of the `pubsub` component, with the SDK's client."""
    async with DaprClient() as client:
        await client.publish_event(
            pubsub_name=PUBSUB,
            topic_name=topic,
            data=event.model_dump_json(),
            data_content_type="application/json",
        )
