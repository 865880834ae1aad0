"""Pub/sub brokers by component type: a new broker is one module plus one line here.

Redis is imported when a `pubsub.redis` component is loaded (a default run does not use it).
"""

from __future__ import annotations

from ..component import Component
from . import outbox
from .broker import Broker, BrokerContext, BrokerFactory


def _redis(comp: Component, ctx: BrokerContext) -> Broker:
    from . import redis

    return redis.create(comp, ctx)


BROKERS: dict[str, BrokerFactory] = {
    # daprd's in-memory broker; here durable in the sidecar's outbox (survives a restart)
    "pubsub.in-memory": outbox.create,
    "pubsub.redis": _redis,
}
