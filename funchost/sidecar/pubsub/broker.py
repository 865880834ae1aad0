"""The broker interface of pub/sub (`Broker`) and what a broker may use of the sidecar.

A broker stores what is published and feeds subscriptions; the subsystem (subsystem.py) owns
everything broker-independent: CloudEvent envelopes, subscriptions, delivery to the app,
retries and dead-letter decisions. A broker module (outbox.py, redis.py) defines
`create(comp, ctx) -> Broker`; registry.py maps a component type (`pubsub.<name>`) to it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..clock import Clock
from ..component import Component
from ..store import Store
from .delivery import ActiveSubscription, Message

#: one published event: (pubsub, topic, body, metadata, raw)
Row = tuple[str, str, bytes, dict[str, str], bool]
T = TypeVar("T")


class Broker(Protocol):
    """Where one pub/sub component's messages live until their delivery is settled."""

    async def publish(self, rows: list[Row]) -> list[int]:
        """Store `rows` durably (all or none); their message ids (0 when the broker has none).

        Raises `DaprApiError` (ERR_PUBSUB_PUBLISH_MESSAGE) when the broker refuses them.
        """
        ...

    def reader(self, sub: ActiveSubscription) -> Coroutine[Any, Any, None] | None:
        """A task feeding `sub` from the broker (`ctx.enqueue`), or None when the broker
        pushes its messages through `ctx.route` itself."""
        ...

    def backlog(self, key: tuple[str, str] | None = None) -> None:
        """Route (`ctx.route`) every stored, unsettled message (of one pubsub/topic)."""
        ...

    def settle(self, msg: Message, dead_letter: str = "") -> None:
        """`msg` is done (delivered or dropped), or moves to topic `dead_letter`; then
        `ctx.forget(msg.id)`."""
        ...

    def flush(self) -> None:
        """Commit what is waiting to be committed now (before re-routing, at stop)."""
        ...

    def busy(self) -> bool:
        """True while publishes or settlements are waiting to be committed."""
        ...

    async def close(self) -> None:
        """Flush and release connections."""
        ...


@dataclass
class BrokerContext:
    """What brokers may use: the sidecar's database, clock, app id, and the subsystem's hooks."""

    store: Store
    clock: Clock
    app_id: str
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]
    #: hand a stored message to its subscription (or drop it when none wants it)
    route: Callable[[Message], None]
    #: put a message straight on `sub`'s queue (a broker that reads per subscription)
    enqueue: Callable[[ActiveSubscription, Message], None]
    #: the message id is settled: it may be routed again later
    forget: Callable[[int], None]
    #: ids for messages of brokers that have none of their own (negative, unique)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(-1, -1))
    #: copies for other apps subscribed to a shared embedded component (fanout.Fanout), if any
    fanout: Any = None
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)

    def shared(self, key: str, make: Callable[[], T]) -> T:
        """One instance per sidecar of `make()` (e.g. the outbox shared by components)."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]  # type: ignore[no-any-return]


#: `create(comp, ctx)` of a broker module
BrokerFactory = Callable[[Component, BrokerContext], Broker]
