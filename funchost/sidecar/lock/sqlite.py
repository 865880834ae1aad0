"""`lock.sqlite`: the embedded lock store, durable in the sidecar's database.

One row per held lock: (store, key, owner, expires). Expiry follows the sidecar's clock (the
virtual clock in tests); an expired row counts as free and is replaced by the next taker.
Locks survive a sidecar restart until they expire, as they would in Redis.
"""

from __future__ import annotations

from collections.abc import Callable

from ..store import Store
from ._store import UnlockStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS locks (
    store TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (store, key)
);
"""


class SqliteLockStore:
    """Locks as rows; every operation is one write transaction."""

    def __init__(self, store: Store, name: str, now: Callable[[], float]) -> None:
        self.store = store
        self.name = name
        self._now = now
        store.ensure_schema("locks", SCHEMA)

    async def try_lock(self, key: str, owner: str, expiry_seconds: int) -> bool:
        now = self._now()
        with self.store.tx() as conn:
            conn.execute(
                "DELETE FROM locks WHERE store = ? AND key = ? AND expires <= ?",
                (self.name, key, now),
            )
            cur = conn.execute(
                "INSERT OR IGNORE INTO locks (store, key, owner, expires) VALUES (?, ?, ?, ?)",
                (self.name, key, owner, now + expiry_seconds),
            )
            return cur.rowcount == 1

    async def unlock(self, key: str, owner: str) -> UnlockStatus:
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT owner, expires FROM locks WHERE store = ? AND key = ?", (self.name, key)
            ).fetchone()
            if row is None or row["expires"] <= self._now():
                return UnlockStatus.LOCK_DOES_NOT_EXIST
            if row["owner"] != owner:
                return UnlockStatus.LOCK_BELONGS_TO_OTHERS
            conn.execute("DELETE FROM locks WHERE store = ? AND key = ?", (self.name, key))
            return UnlockStatus.SUCCESS

    async def close(self) -> None:
        """Nothing to release: the sidecar owns the database."""
