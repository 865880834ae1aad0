"""`state.sqlite`: integer etags per key, first-write/last-write, TTL, transactions.

One table per store in the sidecar database (`state_<name>`), so a write is durable once
acknowledged; `state.in-memory` (memory.py) uses the same code on a private in-memory database.

An absolute `connectionString` (a file path, as daprd's SQLite component takes it) puts the
table in that file instead, which every app whose sidecar loads the component shares; keys
are then stored as daprd stores them, `<prefix>||<key>` per `keyPrefix` (`appid` by default,
`name` or `none` to share keys between apps). A relative `connectionString` names a file in
each app's own folder under daprd, never shared: the sidecar's own database stands in for it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

from ..component import Component
from ..store import Store
from .backend import (
    FIRST_WRITE,
    BackendContext,
    EtagInvalid,
    EtagMismatch,
    StateItem,
    StoredValue,
    key_prefix,
)


def _table(name: str) -> str:
    return "state_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def shared_path(comp: Component) -> str | None:
    """The absolute database file `comp`'s `connectionString` names, else None."""
    raw = (comp.meta("connectionString") or "").strip()
    if raw.startswith("file:"):
        raw = raw[len("file:") :].split("?", 1)[0]
    return raw if raw.startswith("/") else None


def create(comp: Component, ctx: BackendContext) -> SqliteStateBackend:
    """The `state.sqlite` store `comp`: in the sidecar's database, or a shared file."""
    path = shared_path(comp)
    if path is None:
        return SqliteStateBackend(ctx.store, comp.name, ctx.clock_time)
    prefix = key_prefix(comp.meta("keyPrefix"), ctx.app_id, comp.name)
    return SqliteStateBackend(ctx.file_store(path), comp.name, ctx.clock_time, prefix)


class SqliteStateBackend:
    """Key/value rows with versions; every method runs in one transaction."""

    def __init__(
        self, store: Store, name: str, clock_time: Callable[[], float], prefix: str = ""
    ) -> None:
        self.store = store
        self.prefix = f"{prefix}||" if prefix else ""
        self.name = name
        self.table = _table(name)
        self._now = clock_time
        #: a blind write (no etag, last-write) in one statement: the version goes up by one
        #: (from 0 for a new key) as `_set` does, without reading the row first
        self._upsert_sql = (
            f"INSERT INTO {self.table}(key, value, version, expires) VALUES (?,?,1,?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, version=version+1, "
            "expires=excluded.expires"
        )
        store.ensure_schema(
            self.table,
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER NOT NULL, "
            "expires REAL)",
        )

    def now(self) -> float:
        return float(self._now())

    def _k(self, key: str) -> str:
        return self.prefix + key

    def unprefixed(self) -> SqliteStateBackend:
        """This store without the key prefix (for actor state, whose keys carry their own)."""
        view = copy.copy(self)
        view.prefix = ""
        return view

    def get(self, key: str) -> StoredValue | None:
        row = self.store.query_one(
            f"SELECT value, version, expires FROM {self.table} WHERE key=?", (self._k(key),)
        )
        if row is None or (row["expires"] is not None and row["expires"] <= self.now()):
            return None
        return StoredValue(bytes(row["value"]), str(row["version"]), row["expires"])

    def bulk_get(self, keys: list[str]) -> dict[str, StoredValue | None]:
        return {key: self.get(key) for key in keys}

    def _item_key(self, item: StateItem) -> str:
        return item.key if item.raw_key else self._k(item.key)

    def _current(self, stored_key: str) -> tuple[int, bool]:
        """(stored version or 0, live) for the row `stored_key` (prefix included)."""
        row = self.store.query_one(
            f"SELECT version, expires FROM {self.table} WHERE key=?", (stored_key,)
        )
        if row is None:
            return 0, False
        live = row["expires"] is None or row["expires"] > self.now()
        return int(row["version"]), live

    def _check(self, item: StateItem, version: int, live: bool) -> None:
        if item.etag:
            try:
                wanted = int(item.etag)
            except ValueError:
                raise EtagInvalid(f"invalid etag value {item.etag!r}: etags are integers") from None
            if not live or wanted != version:
                raise EtagMismatch(
                    f"possible etag mismatch for key {item.key!r}: expected {item.etag}, "
                    f"stored {version if live else 'nothing'}"
                )
        elif item.concurrency == FIRST_WRITE and live:
            raise EtagMismatch(
                f"first-write concurrency: key {item.key!r} already exists; pass its etag"
            )

    def _set(self, item: StateItem) -> str:
        version, live = self._current(self._item_key(item))
        self._check(item, version, live)
        expires = self.now() + item.ttl if item.ttl is not None else None
        self.store.execute(
            f"INSERT INTO {self.table}(key, value, version, expires) VALUES (?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, version=excluded.version, "
            "expires=excluded.expires",
            (self._item_key(item), item.value or b"", version + 1, expires),
        )
        return str(version + 1)

    @staticmethod
    def _blind(item: StateItem) -> bool:
        """No etag and last-write: the stored row needs no check."""
        return not item.etag and item.concurrency != FIRST_WRITE

    def _upsert(self, item: StateItem) -> None:
        expires = self.now() + item.ttl if item.ttl is not None else None
        self.store.execute(self._upsert_sql, (self._item_key(item), item.value or b"", expires))

    def _write(self, item: StateItem) -> None:
        """`_set` without its etag answer: a blind write is one statement."""
        if self._blind(item):
            self._upsert(item)
        else:
            self._set(item)

    def _delete(self, item: StateItem) -> None:
        version, live = self._current(self._item_key(item))
        if item.etag:
            self._check(item, version, live)
        self.store.execute(f"DELETE FROM {self.table} WHERE key=?", (self._item_key(item),))

    def set(self, item: StateItem) -> str:
        """Write one value; returns its new etag."""
        with self.store.tx():
            return self._set(item)

    def set_many(self, items: list[StateItem]) -> None:
        """Write several values atomically (SaveState with many items).

        One blind item is one statement, atomic and committed on its own (autocommit): it
        needs no BEGIN/COMMIT around it."""
        if len(items) == 1 and self._blind(items[0]):
            self._upsert(items[0])
            return
        with self.store.tx():
            for item in items:
                self._write(item)

    def delete(self, item: StateItem) -> None:
        with self.store.tx():
            self._delete(item)

    def transact(self, ops: list[tuple[str, StateItem]]) -> None:
        """Apply upserts and deletes all-or-nothing."""
        with self.store.tx():
            for op, item in ops:
                if op == "delete":
                    self._delete(item)
                else:
                    self._write(item)

    def purge_expired(self) -> int:
        cur = self.store.execute(
            f"DELETE FROM {self.table} WHERE expires IS NOT NULL AND expires <= ?", (self.now(),)
        )
        return cur.rowcount
