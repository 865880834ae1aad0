"""SQLite persistence of workflows: `wf_instances`, `wf_history`, `wf_inbox`, `wf_activities`.

Every change a turn or a client call makes is written in one transaction (`Store.tx()`) before
anything is dispatched or acknowledged, so a kill -9 at any point leaves a consistent state: an
inbox row or activity row still present means the work is still owed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from ..store import Store
from ._pb import TERMINAL, pb
from .state import InboxItem, Instance

SCHEMA = """
CREATE TABLE IF NOT EXISTS wf_instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    input TEXT, output TEXT, custom_status TEXT, failure BLOB,
    created REAL NOT NULL, updated REAL NOT NULL, completed REAL,
    parent_id TEXT, scheduled_start REAL, suspended INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS wf_history (
    instance_id TEXT NOT NULL, idx INTEGER NOT NULL, event BLOB NOT NULL,
    PRIMARY KEY (instance_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL, pos REAL NOT NULL, visible_at REAL NOT NULL,
    execution_id TEXT, event BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS wf_inbox_instance ON wf_inbox (instance_id);
CREATE TABLE IF NOT EXISTS wf_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL, request BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS wf_activities_instance ON wf_activities (instance_id);
CREATE INDEX IF NOT EXISTS wf_instances_completed ON wf_instances (completed)
    WHERE completed IS NOT NULL;
"""

# `wf_instances` columns, named as the `Instance` fields they hold; `_UPDATED`: those that change.
_FIELDS = (
    "instance_id",
    "name",
    "execution_id",
    "status",
    "input",
    "output",
    "custom_status",
    "failure",
    "created",
    "updated",
    "completed",
    "parent_id",
    "scheduled_start",
    "suspended",
)
_FIXED = ("instance_id", "name", "created", "parent_id", "scheduled_start")
_UPDATED = tuple(f for f in _FIELDS if f not in _FIXED)
_COLUMNS = ", ".join(_FIELDS)


def _values(inst: Instance, fields: Iterable[str]) -> tuple[object, ...]:
    return tuple(int(inst.suspended) if f == "suspended" else getattr(inst, f) for f in fields)


def _instance(row: sqlite3.Row) -> Instance:
    inst = Instance(**{f: row[f] for f in _FIELDS})
    inst.suspended = bool(inst.suspended)
    return inst


@dataclass
class PendingActivity:
    """An activity owed to a worker: its row id and request."""

    row_id: int
    instance_id: str
    request: pb.ActivityRequest


class Backend:
    """Reads and writes the workflow tables; callers group writes with `store.tx()`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema("workflows", SCHEMA)

    # -- loading (startup) ------------------------------------------------------------------

    def load_instances(self) -> dict[str, Instance]:
        """The instances still running (finished ones are read on demand: `load_instance`)."""
        marks = ",".join("?" * len(TERMINAL))
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM wf_instances WHERE status NOT IN ({marks}) ORDER BY rowid",
            tuple(TERMINAL),
        )
        return {r["instance_id"]: _instance(r) for r in rows}

    def load_instance(self, instance_id: str) -> Instance | None:
        row = self.store.query_one(
            f"SELECT {_COLUMNS} FROM wf_instances WHERE instance_id = ?", (instance_id,)
        )
        return _instance(row) if row is not None else None

    def finished_ids(
        self, created_from: float | None, created_to: float | None, statuses: set[int]
    ) -> list[str]:
        """Ids of terminal instances created in [from, to) with one of `statuses` (any if empty)."""
        wanted = sorted(statuses & TERMINAL) if statuses else sorted(TERMINAL)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        sql = f"SELECT instance_id FROM wf_instances WHERE status IN ({marks})"
        args: list[object] = list(wanted)
        if created_from is not None:
            sql += " AND created >= ?"
            args.append(created_from)
        if created_to is not None:
            sql += " AND created < ?"
            args.append(created_to)
        return [r["instance_id"] for r in self.store.query(sql, args)]

    def next_expiry(self, ttl: dict[int, float]) -> float | None:
        """When the next finished instance's retention runs out (None: nothing finished)."""
        due: float | None = None
        for status, seconds in ttl.items():
            row = self.store.query_one(
                "SELECT MIN(completed) AS c FROM wf_instances WHERE status = ?"
                " AND completed IS NOT NULL",
                (status,),
            )
            if row is not None and row["c"] is not None:
                t = float(row["c"]) + seconds
                due = t if due is None else min(due, t)
        return due

    def expired_ids(self, now: float, ttl: dict[int, float], limit: int) -> list[str]:
        """Terminal instances whose retention (seconds per status) has run out."""
        clauses = " OR ".join("(status = ? AND completed <= ?)" for _ in ttl)
        args: list[object] = []
        for status, seconds in ttl.items():
            args += [status, now - seconds]
        rows = self.store.query(
            "SELECT instance_id FROM wf_instances WHERE completed IS NOT NULL"
            f" AND ({clauses}) LIMIT ?",
            (*args, limit),
        )
        return [r["instance_id"] for r in rows]

    def load_inbox(self) -> list[tuple[str, InboxItem]]:
        rows = self.store.query(
            "SELECT id, instance_id, pos, visible_at, execution_id, event"
            " FROM wf_inbox ORDER BY pos"
        )
        return [
            (
                r["instance_id"],
                InboxItem(
                    r["id"],
                    r["pos"],
                    r["visible_at"],
                    r["execution_id"],
                    pb.HistoryEvent.FromString(r["event"]),
                ),
            )
            for r in rows
        ]

    def load_activities(self) -> list[PendingActivity]:
        rows = self.store.query("SELECT id, instance_id, request FROM wf_activities ORDER BY id")
        return [
            PendingActivity(r["id"], r["instance_id"], pb.ActivityRequest.FromString(r["request"]))
            for r in rows
        ]

    def load_history(self, instance_id: str) -> list[pb.HistoryEvent]:
        rows = self.store.query(
            "SELECT event FROM wf_history WHERE instance_id = ? ORDER BY idx", (instance_id,)
        )
        return [pb.HistoryEvent.FromString(r["event"]) for r in rows]

    def max_pos(self) -> float:
        row = self.store.query_one("SELECT MAX(pos) AS p FROM wf_inbox")
        return float(row["p"]) if row is not None and row["p"] is not None else 0.0

    # -- writes (inside store.tx()) ---------------------------------------------------------

    def save_instance(self, conn: sqlite3.Connection, inst: Instance) -> None:
        marks = ",".join("?" * len(_FIELDS))
        conn.execute(
            f"INSERT OR REPLACE INTO wf_instances ({_COLUMNS}) VALUES ({marks})",
            _values(inst, _FIELDS),
        )

    def update_instance(self, conn: sqlite3.Connection, inst: Instance) -> None:
        assignments = ", ".join(f"{f}=?" for f in _UPDATED)
        conn.execute(
            f"UPDATE wf_instances SET {assignments} WHERE instance_id=?",
            (*_values(inst, _UPDATED), inst.instance_id),
        )

    def append_history(
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        start: int,
        events: Iterable[pb.HistoryEvent],
    ) -> None:
        conn.executemany(
            "INSERT INTO wf_history (instance_id, idx, event) VALUES (?,?,?)",
            [(instance_id, start + i, ev.SerializeToString()) for i, ev in enumerate(events)],
        )

    def clear_history(self, conn: sqlite3.Connection, instance_id: str) -> None:
        conn.execute("DELETE FROM wf_history WHERE instance_id = ?", (instance_id,))

    def add_inbox(
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        pos: float,
        visible_at: float,
        execution_id: str | None,
        ev: pb.HistoryEvent,
    ) -> InboxItem:
        cur = conn.execute(
            "INSERT INTO wf_inbox (instance_id, pos, visible_at, execution_id, event)"
            " VALUES (?,?,?,?,?)",
            (instance_id, pos, visible_at, execution_id, ev.SerializeToString()),
        )
        return InboxItem(int(cur.lastrowid or 0), pos, visible_at, execution_id, ev)

    def delete_inbox(self, conn: sqlite3.Connection, row_ids: Iterable[int]) -> None:
        conn.executemany("DELETE FROM wf_inbox WHERE id = ?", [(i,) for i in row_ids])

    def add_activity(
        self, conn: sqlite3.Connection, instance_id: str, req: pb.ActivityRequest
    ) -> int:
        cur = conn.execute(
            "INSERT INTO wf_activities (instance_id, request) VALUES (?,?)",
            (instance_id, req.SerializeToString()),
        )
        return int(cur.lastrowid or 0)

    def delete_activity(self, conn: sqlite3.Connection, row_id: int) -> bool:
        return conn.execute("DELETE FROM wf_activities WHERE id = ?", (row_id,)).rowcount > 0

    def delete_instance(self, conn: sqlite3.Connection, instance_id: str) -> None:
        for table in ("wf_instances", "wf_history", "wf_inbox", "wf_activities"):
            conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def list_ids(self, after: int, limit: int) -> list[tuple[int, str]]:
        rows = self.store.query(
            "SELECT rowid, instance_id FROM wf_instances WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        )
        return [(int(r["rowid"]), r["instance_id"]) for r in rows]
