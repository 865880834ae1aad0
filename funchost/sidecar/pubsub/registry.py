"""Pub/sub brokers by component type: a new broker is one module plus one line here."""

from __future__ import annotations

from . import outbox, redis
from .broker import BrokerFactory

BROKERS: dict[str, BrokerFactory] = {
    # daprd's in-memory broker; here durable in the sidecar's outbox (survives a restart)
    "pubsub.in-memory": outbox.create,
    "pubsub.redis": redis.create,
}
