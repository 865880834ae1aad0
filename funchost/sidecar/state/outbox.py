"""The transactional outbox (daprd `pkg/runtime/pubsub/outbox.go`): a state transaction that
publishes what it writes.

A state store with `outboxPublishPubsub` and `outboxPublishTopic` publishes, for every upsert of a
transaction (deletes are never published), a CloudEvent `{id: "outbox-<uuid>", source: <appId>,
type: com.dapr.event.sent, data: the value}` to that pubsub/topic; an upsert with metadata
`outbox.projection: "true"` is not written but replaces what is published for its key; every op
metadata key is copied onto the event's top level (except `data` and `id`).

Atomicity: when the store and the broker are both in the sidecar's SQLite database
(`state.sqlite` + `pubsub.in-memory`, the defaults) the state writes and the outbox rows commit in
one transaction. Otherwise (state.postgresql, pubsub.redis...) the events are first recorded in the
sidecar database with a marker key, the marker is written in the store's transaction, and after
the commit the events are published; at start, a recorded event whose marker is in the store is
published (the transaction committed), one whose marker is absent is dropped (it did not), as
daprd's internal-topic round trip decides.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import DaprApiError
from ..cloudevents import envelope
from ..component import Component
from ..pubsub.broker import Broker, Row
from ..pubsub.delivery import Message
from ..pubsub.outbox import OutboxBroker
from ..store import Store, blocking_locks
from .backend import AsyncStateBackend, StateBackend, StateItem
from .query import go_value

if TYPE_CHECKING:
    from ..pubsub.subsystem import PubSubSubsystem

log = logging.getLogger("funchost.sidecar.state")

#: runs a store operation, mapping etag errors to daprd's (the state subsystem's `_guard`)
Guard = Callable[[Awaitable[Any]], Awaitable[None]]

#: daprd's `outboxStatePrefix` + "-"
MARKER_PREFIX = "outbox-"
PROJECTION = "outbox.projection"

SCHEMA = """
CREATE TABLE IF NOT EXISTS state_outbox_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL,
    marker TEXT NOT NULL,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    body BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxSettings:
    """A state store's outbox metadata."""

    pubsub: str
    topic: str
    discard_when_missing_state: bool = False

    @classmethod
    def of(cls, comp: Component) -> OutboxSettings | None:
        """The settings of `comp`, or None when `outboxPublishPubsub`/`Topic` are not both set."""
        pubsub, topic = comp.meta("outboxPublishPubsub"), comp.meta("outboxPublishTopic")
        if not pubsub or not topic:
            return None
        return cls(pubsub, topic, comp.flag("outboxDiscardWhenMissingState"))


@dataclass(frozen=True)
class OutboxEvent:
    """One event to publish: its id (the marker key) and CloudEvent JSON."""

    marker: str
    body: bytes


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "y", "on")


def _data(item: StateItem, content_type: str) -> bytes:
    """What daprd publishes for a value: bytes as-is; JSON marshalled for application/json;
    otherwise Go's `%v` of the decoded value."""
    raw = item.value or b""
    if not item.is_json or content_type.split(";")[0].strip().lower() == "application/json":
        return raw
    try:
        return go_value(json.loads(raw)).encode()
    except ValueError:
        return raw


def plan(
    settings: OutboxSettings,
    ops: list[tuple[str, StateItem]],
    app_id: str,
    now: str,
) -> tuple[list[tuple[str, StateItem]], list[OutboxEvent]]:
    """The operations to write (projections removed) and the events to publish."""
    projections: dict[str, StateItem] = {}
    kept: list[tuple[str, StateItem]] = []
    for op, item in ops:
        if op == "upsert" and _truthy(item.metadata.get(PROJECTION)):
            projections[item.key] = item
        else:
            kept.append((op, item))
    events = []
    for op, item in kept:
        if op != "upsert":
            continue
        source = projections.get(item.key, item)
        ctype = source.metadata.get("contentType") or "text/plain"
        marker = MARKER_PREFIX + str(uuid.uuid4())
        event: dict[str, Any] = envelope(
            data=_data(source, ctype),
            content_type=ctype,
            topic=settings.topic,
            pubsub=settings.pubsub,
            source=app_id,
            now=now,
        )
        event["id"] = marker
        for key, value in source.metadata.items():
            if key not in ("data", "id"):
                event[key] = value
        events.append(OutboxEvent(marker, json.dumps(event, separators=(",", ":")).encode()))
    return kept, events


class PendingEvents:
    """Events recorded before a non-SQLite store's transaction, until published or dropped."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema("state_outbox_pending", SCHEMA)

    def record(self, store_name: str, settings: OutboxSettings, events: list[OutboxEvent]) -> None:
        with self.store.tx() as conn:
            conn.executemany(
                "INSERT INTO state_outbox_pending(store, marker, pubsub, topic, body) "
                "VALUES (?,?,?,?,?)",
                [(store_name, e.marker, settings.pubsub, settings.topic, e.body) for e in events],
            )

    def forget(self, markers: list[str]) -> None:
        with self.store.tx() as conn:
            conn.executemany(
                "DELETE FROM state_outbox_pending WHERE marker=?", [(m,) for m in markers]
            )

    def all(self) -> list[tuple[str, str, str, str, bytes]]:
        """(store, marker, pubsub, topic, body) of every recorded event."""
        return [
            (r["store"], r["marker"], r["pubsub"], r["topic"], bytes(r["body"]))
            for r in self.store.query(
                "SELECT store, marker, pubsub, topic, body FROM state_outbox_pending ORDER BY id"
            )
        ]


class TransactionalOutbox:
    """Publishes the upserts of transactions on stores with outbox metadata (see module doc)."""

    def __init__(self, db: Store, pubsub: PubSubSubsystem | None, app_id: str) -> None:
        self.db = db
        self.pubsub = pubsub
        self.app_id = app_id
        self.pending = PendingEvents(db)

    async def transact(
        self,
        store: str,
        settings: OutboxSettings,
        backend: StateBackend | AsyncStateBackend,
        sapi: AsyncStateBackend,
        ops: list[tuple[str, StateItem]],
        now: str,
        guard: Guard,
    ) -> None:
        """Apply `ops` on `store` and publish its upserts, atomically (module doc)."""
        ops, events = plan(settings, ops, self.app_id, now)
        broker = self._broker(settings)
        rows: list[Row] = [(settings.pubsub, settings.topic, e.body, {}, False) for e in events]
        if getattr(backend, "store", None) is self.db and isinstance(broker, OutboxBroker):
            # state and broker share the sidecar database: one transaction
            sqlite_backend: StateBackend = backend  # type: ignore[assignment]
            msgs: list[Message] = []

            async def commit() -> None:
                with self.db.tx() as conn:
                    sqlite_backend.transact(ops)
                    msgs.extend(broker.stage(conn, rows))

            await guard(commit())
            broker.committed(msgs)
            return
        markers = [e.marker for e in events]

        async def record() -> None:
            self.pending.record(store, settings, events)

        await guard(record())  # a lock held elsewhere: nothing written yet, retried whole
        marked = ops + [("upsert", StateItem(m, b"0", raw_key=True)) for m in markers]
        try:
            await guard(sapi.transact(marked))
        except BaseException:
            with blocking_locks():
                self.pending.forget(markers)
            raise
        # committed: from here on a lock held elsewhere is waited out, never retried (the
        # caller's `patiently` would apply the transaction twice)
        with blocking_locks():
            await self._publish(sapi, broker, rows, markers)

    def _broker(self, settings: OutboxSettings) -> Broker:
        pubsub = self.pubsub
        if pubsub is None or settings.pubsub not in pubsub.brokers:
            raise DaprApiError(
                500,
                "ERR_PUBLISH_OUTBOX",
                f"error while publishing outbox message: pubsub {settings.pubsub} is not found: "
                f"define a pubsub Component named {settings.pubsub!r} (outboxPublishPubsub)",
            )
        return pubsub.brokers[settings.pubsub]

    async def _publish(
        self, sapi: AsyncStateBackend, broker: Broker, rows: list[Row], markers: list[str]
    ) -> None:
        try:
            await broker.publish(rows)
        except Exception as exc:
            raise DaprApiError(
                500, "ERR_PUBLISH_OUTBOX", f"error while publishing outbox message: {exc}"
            ) from None
        self.pending.forget(markers)
        await sapi.transact([("delete", StateItem(m, raw_key=True)) for m in markers])

    async def recover(
        self, outboxes: dict[str, OutboxSettings], apis: dict[str, AsyncStateBackend]
    ) -> None:
        """Publish events whose transaction committed before a crash; drop the others."""
        for store, marker, pubsub, topic, body in self.pending.all():
            settings = outboxes.get(store)
            sapi = apis.get(store)
            if settings is None or sapi is None:
                continue
            unprefixed = getattr(sapi, "unprefixed", None)
            reader = unprefixed() if unprefixed is not None else sapi
            if await reader.get(marker) is None:
                log.info("outbox event %s: its transaction did not commit; dropped", marker)
                self.pending.forget([marker])
                continue
            broker = self._broker(settings)
            await self._publish(sapi, broker, [(pubsub, topic, body, {}, False)], [marker])
