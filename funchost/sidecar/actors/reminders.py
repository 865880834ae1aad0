"""Durable actor reminders (table `actor_reminders`), fired on the sidecar clock.

A reminder is committed before the registration is acknowledged and survives kill -9. After a fire
the next due time is the first period tick strictly after now, so a reminder that came due several
times while the process was down fires once on restart, then resumes its period. `R<n>/` periods
count fires down; `ttl` (absolute, computed at registration) deletes the reminder once passed.
Delivery: `PUT /actors/{type}/{id}/method/remind/{name}` with `{"data", "dueTime", "period"}`,
inside the actor's turn; a failed delivery is retried 3 times, 1 s apart, then the reminder
moves on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..app_channel import AppResponse, AppUnavailable
from ..clock import Clock
from ..store import Store
from ..timeformats import parse_actor_times, parse_period
from ._background import BackgroundLoop

log = logging.getLogger("funchost.sidecar.actors")

SCHEMA = """
CREATE TABLE IF NOT EXISTS actor_reminders (
    actor_type TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    data       TEXT,
    due_time   TEXT NOT NULL DEFAULT '',
    period     TEXT NOT NULL DEFAULT '',
    ttl        TEXT NOT NULL DEFAULT '',
    next_due   REAL NOT NULL,
    expires    REAL,
    remaining  INTEGER,
    generation INTEGER NOT NULL,
    PRIMARY KEY (actor_type, actor_id, name)
);
CREATE INDEX IF NOT EXISTS actor_reminders_due ON actor_reminders (next_due);
"""

RETRIES = 3
RETRY_DELAY = 1.0

Key = tuple[str, str, str]
Deliver = Callable[[str, str, str, bytes], Awaitable[AppResponse]]


@dataclass(frozen=True)
class Reminder:
    """A registered reminder, as stored."""

    actor_type: str
    actor_id: str
    name: str
    data: Any
    due_time: str
    period: str
    ttl: str
    next_due: float
    expires: float | None
    remaining: int | None
    generation: int

    def app_body(self) -> bytes:
        """The body daprd sends to the app's `remind` callback."""
        doc: dict[str, Any] = {"data": self.data, "dueTime": self.due_time, "period": self.period}
        if self.ttl:
            doc["ttl"] = self.ttl
        return json.dumps(doc, separators=(",", ":")).encode()

    def api_doc(self) -> dict[str, Any]:
        """The `GET .../reminders/{name}` answer (daprd omits empty fields)."""
        doc: dict[str, Any] = {"actorID": self.actor_id, "actorType": self.actor_type}
        if self.data is not None:
            doc["data"] = self.data
        for key, value in (("dueTime", self.due_time), ("period", self.period), ("ttl", self.ttl)):
            if value:
                doc[key] = value
        return doc


def _row(row: Any) -> Reminder:
    return Reminder(
        row["actor_type"],
        row["actor_id"],
        row["name"],
        json.loads(row["data"]) if row["data"] is not None else None,
        row["due_time"],
        row["period"],
        row["ttl"],
        row["next_due"],
        row["expires"],
        row["remaining"],
        row["generation"],
    )


class ReminderService(BackgroundLoop):
    """Registers, persists and fires reminders for the hosted actor types."""

    def __init__(self, store: Store, clock: Clock, deliver: Deliver) -> None:
        self.store = store
        self.clock = clock
        self.deliver = deliver
        self.hosted: frozenset[str] = frozenset()
        self._wake = asyncio.Event()
        self._firing: set[Key] = set()
        self._retrying = 0
        self._next_due: float | None = None
        self._gen = 0
        store.ensure_schema("actor_reminders", SCHEMA)
        row = store.query_one("SELECT MAX(generation) AS g FROM actor_reminders")
        self._gen = int(row["g"] or 0) if row is not None else 0

    # -- API ---------------------------------------------------------------------------------
    def register(self, actor_type: str, actor_id: str, name: str, body: dict[str, Any]) -> None:
        """Create or replace a reminder; raises DurationError on a bad dueTime/period/ttl."""
        sched = parse_actor_times(body, self.clock.time())
        data = json.dumps(body["data"]) if body.get("data") is not None else None
        self._gen += 1
        with self.store.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO actor_reminders (actor_type, actor_id, name, data,"
                " due_time, period, ttl, next_due, expires, remaining, generation)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    actor_type,
                    actor_id,
                    name,
                    data,
                    sched.due_time,
                    sched.period_text,
                    sched.ttl,
                    sched.due,
                    sched.expires,
                    sched.repeats,
                    self._gen,
                ),
            )
        self._schedule(sched.due)

    def get(self, actor_type: str, actor_id: str, name: str) -> Reminder | None:
        row = self.store.query_one(
            "SELECT * FROM actor_reminders WHERE actor_type=? AND actor_id=? AND name=?",
            (actor_type, actor_id, name),
        )
        return _row(row) if row is not None else None

    def delete(self, actor_type: str, actor_id: str, name: str) -> None:
        with self.store.tx() as conn:
            conn.execute(
                "DELETE FROM actor_reminders WHERE actor_type=? AND actor_id=? AND name=?",
                (actor_type, actor_id, name),
            )

    def count(self) -> int:
        row = self.store.query_one("SELECT COUNT(*) AS n FROM actor_reminders")
        return int(row["n"]) if row is not None else 0

    # -- scheduling --------------------------------------------------------------------------
    def _schedule(self, due: float) -> None:
        if self._next_due is None or due < self._next_due:
            self._next_due = due
        self._wake.set()

    def set_hosted(self, types: frozenset[str]) -> None:
        self.hosted = types
        self._next_due = self.clock.time() if types else None
        self._wake.set()

    def busy(self) -> bool:
        """A delivery is running, or a reminder is due now and not yet picked up."""
        if len(self._firing) > self._retrying:
            return True
        nd = self._next_due
        return nd is not None and nd <= self.clock.time() and bool(self.hosted)

    def _hosted_sql(self) -> tuple[str, list[str]]:
        types = sorted(self.hosted)
        return f"actor_type IN ({','.join('?' * len(types))})", types

    async def _loop(self) -> None:
        spawn = asyncio.get_running_loop().create_task
        tasks: set[asyncio.Task[None]] = set()
        while True:
            self._wake.clear()
            now = self.clock.time()
            nxt: float | None = None
            spawned = 0
            if self.hosted:
                where, args = self._hosted_sql()
                rows = self.store.query(
                    f"SELECT * FROM actor_reminders WHERE {where} AND next_due <= ?"
                    " ORDER BY next_due LIMIT 256",
                    [*args, now],
                )
                spawned = 0
                for row in rows:
                    rem = _row(row)
                    key = (rem.actor_type, rem.actor_id, rem.name)
                    if key in self._firing:
                        continue
                    spawned += 1
                    self._firing.add(key)
                    task = spawn(self._fire(rem))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                first = self.store.query_one(
                    f"SELECT MIN(next_due) AS d FROM actor_reminders WHERE {where}"
                    " AND next_due > ?",
                    [*args, now],
                )
                nxt = first["d"] if first is not None else None
                if len(rows) >= 256:
                    nxt = now
            self._next_due = nxt
            if nxt is not None and nxt <= now:
                if spawned:
                    await asyncio.sleep(0)  # a full batch went out: fetch the next one
                else:
                    await self._wake.wait()  # all due ones are firing: wait for one to end
                continue
            await self.clock.sleep_until(nxt if nxt is not None else now + 3600, wake=self._wake)

    async def _fire(self, rem: Reminder) -> None:
        key = (rem.actor_type, rem.actor_id, rem.name)
        try:
            if rem.expires is not None and self.clock.time() >= rem.expires:
                self._finish(rem, None, None)
                return
            for attempt in range(RETRIES + 1):
                try:
                    resp = await self.deliver(
                        rem.actor_type, rem.actor_id, rem.name, rem.app_body()
                    )
                    ok = resp.status < 300
                    if not ok:
                        log.warning(
                            "reminder %s on actor %s/%s: app answered %s: %s",
                            rem.name,
                            rem.actor_type,
                            rem.actor_id,
                            resp.status,
                            resp.body[:200],
                        )
                except AppUnavailable as exc:
                    ok = False
                    log.warning(
                        "reminder %s on actor %s/%s: %s",
                        rem.name,
                        rem.actor_type,
                        rem.actor_id,
                        exc,
                    )
                if ok or attempt == RETRIES or self._replaced(rem):
                    break
                self._retrying += 1
                try:
                    await self.clock.sleep(RETRY_DELAY)
                finally:
                    self._retrying -= 1
            self._advance(rem)
        finally:
            self._firing.discard(key)
            self._wake.set()

    def _replaced(self, rem: Reminder) -> bool:
        cur = self.get(rem.actor_type, rem.actor_id, rem.name)
        return cur is None or cur.generation != rem.generation

    def _advance(self, rem: Reminder) -> None:
        now = self.clock.time()
        period = parse_period(rem.period)
        remaining = rem.remaining - 1 if rem.remaining is not None else None
        if period is None or (remaining is not None and remaining <= 0):
            self._finish(rem, None, None)
            return
        nxt = period.first_after(rem.next_due, now)
        if rem.expires is not None and nxt >= rem.expires:
            self._finish(rem, None, None)
            return
        self._finish(rem, nxt, remaining)

    def _finish(self, rem: Reminder, nxt: float | None, remaining: int | None) -> None:
        """Reschedule (or delete when `nxt` is None) unless the reminder was replaced meanwhile."""
        with self.store.tx() as conn:
            args = (rem.actor_type, rem.actor_id, rem.name, rem.generation)
            if nxt is None:
                conn.execute(
                    "DELETE FROM actor_reminders WHERE actor_type=? AND actor_id=? AND name=?"
                    " AND generation=?",
                    args,
                )
            else:
                conn.execute(
                    "UPDATE actor_reminders SET next_due=?, remaining=? WHERE actor_type=?"
                    " AND actor_id=? AND name=? AND generation=?",
                    (nxt, remaining, *args),
                )
