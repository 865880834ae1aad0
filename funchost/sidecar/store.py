"""One SQLite database (WAL) that holds everything the sidecar accepts.

Every subsystem keeps its tables here and commits before it acknowledges, so kill -9 at any point
loses nothing that was acknowledged. The connection belongs to the sidecar's event-loop thread.
`synchronous=NORMAL` in WAL mode survives a process crash (kill -9); only a power loss of the
whole machine could lose the last transactions, which is also daprd's stance with SQLite.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any


class StoreInUse(RuntimeError):
    """Another live process owns the database (two sidecars on one file would double-deliver)."""


def _own(path: str) -> IO[str]:
    """Take the database's owner lock (`<db>.lock`, flock): released on close or any death."""
    lock_path = path + ".lock"
    handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the store's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise StoreInUse(
            f"{path} is in use by another funchost sidecar (pid {owner}): stop it, or give "
            "this one its own database (--state-dir)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class Store:
    """A thin wrapper around one SQLite connection with explicit transactions.

    `exclusive=True` (the sidecar) takes an owner lock on the file, so a second sidecar on the
    same database fails at start-up instead of delivering everything twice; readers (e.g.
    `funchost outbox` on a database file) open it without the lock.
    """

    def __init__(self, path: str | Path = ":memory:", *, exclusive: bool = False) -> None:
        self.path = str(path)
        self._owner: IO[str] | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._owner = _own(self.path)
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._lock = threading.RLock()
        self._schemas: set[str] = set()

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create a subsystem's tables once (idempotent DDL: CREATE ... IF NOT EXISTS)."""
        if name in self._schemas:
            return
        with self._lock:
            self.conn.executescript(ddl)
            self._schemas.add(name)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT); nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement (autocommits unless inside `tx()`)."""
        with self._lock:
            return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a query and return all rows."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        """Run a query and return the first row, or None."""
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            with suppress(sqlite3.Error):
                self.conn.close()
            if self._owner is not None:
                self._owner.close()  # releases the flock
                self._owner = None
