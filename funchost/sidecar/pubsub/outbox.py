"""The SQLite outbox broker (`pubsub.in-memory`): messages are rows of `pubsub_outbox`.

A publish is acknowledged once its row is committed (group commit: every publish waiting in the
same loop turn shares one transaction); a settled delivery deletes its row (batched, in the same
kind of transaction, with any dead-letter insert). Deletes ride along with the next publish
commit, or go alone `SETTLE_DELAY` later: under load one transaction serves both, and a crash
in that window only delivers those messages again. Rows still present at start are routed
again once the app's subscriptions are known: at-least-once across crashes. Every component of
this broker shares one outbox (one table in the sidecar database).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time

from .._errors import DaprApiError
from ..component import Component
from ..store import quick_locks
from ..store_errors import BUSY_WAIT, is_busy, storage_error
from .broker import BrokerContext, Row
from .delivery import ActiveSubscription, Message

log = logging.getLogger("funchost.sidecar.pubsub")

#: seconds a settled delivery waits for a publish commit to share before committing alone
SETTLE_DELAY = 0.005

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pubsub_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    body BLOB NOT NULL,
    metadata TEXT NOT NULL,
    raw INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
"""


def create(comp: Component, ctx: BrokerContext) -> OutboxBroker:
    """The sidecar's one outbox (shared by every component of this type)."""
    return ctx.shared("outbox", lambda: OutboxBroker(ctx))


class OutboxBroker:
    """A `Broker` on the `pubsub_outbox` table of the sidecar database."""

    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.store.ensure_schema("pubsub", _SCHEMA)
        #: (rows, who waits, local: received from another app, not fanned out again)
        self._pending: list[tuple[list[Row], asyncio.Future[list[int]] | None, bool]] = []
        self._done: list[int] = []
        self._flush_scheduled = False
        self._settle_timer: asyncio.TimerHandle | None = None
        self._busy_since: float | None = None

    async def publish(self, rows: list[Row], local: bool = False) -> list[int]:
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, fut, local))
        self._schedule_flush()
        return await fut

    def stage(self, conn: sqlite3.Connection, rows: list[Row]) -> list[Message]:
        """Insert `rows` in the caller's open transaction (a state transaction with an outbox);
        hand the result to `committed()` once that transaction commits."""
        now = self.ctx.clock.time()
        msgs = []
        for pubsub, topic, body, meta, raw in rows:
            cur = conn.execute(
                "INSERT INTO pubsub_outbox(pubsub, topic, body, metadata, raw, created)"
                " VALUES (?,?,?,?,?,?)",
                (pubsub, topic, body, json.dumps(meta), int(raw), now),
            )
            msgs.append(Message(int(cur.lastrowid or 0), pubsub, topic, body, meta, raw))
        return msgs

    def committed(self, msgs: list[Message]) -> None:
        """Route messages `stage()` inserted, now that their transaction committed."""
        for msg in msgs:
            self.ctx.route(msg)

    def reader(self, sub: ActiveSubscription) -> None:
        return None  # committed rows are routed by flush() and backlog()

    def backlog(self, key: tuple[str, str] | None = None) -> None:
        sql = "SELECT id, pubsub, topic, body, metadata, raw FROM pubsub_outbox"
        params: tuple[str, ...] = ()
        if key is not None:
            sql += " WHERE pubsub=? AND topic=?"
            params = key
        for r in self.store.query(sql + " ORDER BY id", params):
            self.ctx.route(
                Message(
                    r["id"],
                    r["pubsub"],
                    r["topic"],
                    bytes(r["body"]),
                    json.loads(r["metadata"]),
                    bool(r["raw"]),
                )
            )

    def settle(self, msg: Message, dead_letter: str = "") -> None:
        self._done.append(msg.id)
        if dead_letter:
            self._pending.append(
                ([(msg.pubsub, dead_letter, msg.body, msg.metadata, msg.raw)], None, False)
            )
            self._schedule_flush()
        elif not self._flush_scheduled and self._settle_timer is None:
            self._settle_timer = asyncio.get_running_loop().call_later(SETTLE_DELAY, self.flush)

    def _retry_busy(
        self,
        exc: Exception,
        batch: list[tuple[list[Row], asyncio.Future[list[int]] | None, bool]],
        done: list[int],
    ) -> bool:
        """Database locked by another process: keep the batch, flush again shortly (no blocking)."""
        now = time.monotonic()
        if not is_busy(exc):
            return False
        if self._busy_since is None:
            self._busy_since = now
        if now - self._busy_since > BUSY_WAIT:
            self._busy_since = None
            return False
        self._pending[:0] = batch
        self._done[:0] = done
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(0.05, self.flush)
        return True

    def busy(self) -> bool:
        return bool(self._pending or self._done)

    async def close(self) -> None:
        if self._pending or self._done:
            self.flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Commit pending publishes and finished deliveries in one transaction, then route."""
        self._flush_scheduled = False
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        batch, self._pending = self._pending, []
        done, self._done = self._done, []
        if not batch and not done:
            return
        now = self.ctx.clock.time()
        results: list[list[Message]] = []
        fanout = self.ctx.fanout
        copies: list[tuple[str, int, dict[str, object]]] = []
        try:
            with quick_locks(), self.store.tx() as conn:  # locked elsewhere: retried shortly
                for rows, _fut, local in batch:
                    if fanout is not None and not local:
                        copies += fanout.add(conn, rows)
                    msgs = []
                    for pubsub, topic, body, meta, raw in rows:
                        cur = conn.execute(
                            "INSERT INTO pubsub_outbox(pubsub, topic, body, metadata, raw, created)"
                            " VALUES (?,?,?,?,?,?)",
                            (pubsub, topic, body, json.dumps(meta), int(raw), now),
                        )
                        msgs.append(
                            Message(int(cur.lastrowid or 0), pubsub, topic, body, meta, raw)
                        )
                    results.append(msgs)
                if done:
                    conn.executemany("DELETE FROM pubsub_outbox WHERE id=?", [(i,) for i in done])
        except Exception as exc:
            if self._retry_busy(exc, batch, done):
                return
            log.exception("committing pub/sub messages failed")
            error: DaprApiError = (
                storage_error(exc, "ERR_PUBSUB_PUBLISH_MESSAGE", "error when publishing")
                if isinstance(exc, sqlite3.Error)
                else DaprApiError(
                    500, "ERR_PUBSUB_PUBLISH_MESSAGE", f"error when publishing: {exc}"
                )
            )
            for _rows, fut, _local in batch:
                if fut is not None and not fut.done():
                    fut.set_exception(error)
            self._done[:0] = done  # deliveries stay finished; committed with the next flush
            return
        self._busy_since = None
        if fanout is not None:
            fanout.enqueue(copies)
        for i in done:
            self.ctx.forget(i)
        for (_rows, fut, _local), msgs in zip(batch, results, strict=True):
            if fut is not None and not fut.done():
                fut.set_result([m.id for m in msgs])
            for msg in msgs:
                self.ctx.route(msg)
