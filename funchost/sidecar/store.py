"""One SQLite database (WAL) that holds everything the sidecar accepts.

Every subsystem keeps its tables here and commits before it acknowledges, so kill -9 at any point
loses nothing that was acknowledged. The connection belongs to the sidecar's event-loop thread.

Durability (`FUNCHOST_SYNC`, docs/operations.md): `normal` (default, `synchronous=NORMAL` in WAL
mode) survives a process crash (kill -9); only a power loss of the whole machine could lose the
last transactions. `full` (`synchronous=FULL`) syncs the WAL on every commit: power-loss safe.

A lock held by another process (a `sqlite3` shell, `funchost db vacuum`) does not freeze the
event loop on the request paths: the state API and publishes write in `quick_locks()` mode (busy
timeout `LIVE_BUSY_MS`) and retry a `database is locked` asynchronously
(`store_errors.patiently`, the outbox's flush). Background writers (actors, reminders, workflows,
jobs) keep a blocking wait (`BLOCKING_BUSY_MS`) rather than fail mid-turn. The sidecar checks
the file before opening it (store_check.py) and checkpoints the WAL into the `.db` on close, so
the `.db` alone holds everything afterwards.
"""

from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("funchost.sidecar.store")


class StoreInUse(RuntimeError):
    """Another live process owns the database (two sidecars on one file would double-deliver)."""


class StoreDamaged(RuntimeError):
    """The database or its `-wal` fails the start-up integrity check."""


SYNC_LEVELS = {"normal": "NORMAL", "full": "FULL"}
LIVE_BUSY_MS = 20
"""Busy timeout in `quick_locks()` mode: a lock held elsewhere blocks the caller this long."""
BLOCKING_BUSY_MS = 30_000
"""Busy timeout of the other writers once started (they cannot retry later)."""
_quick: contextvars.ContextVar[bool] = contextvars.ContextVar("funchost_quick", default=False)


@contextmanager
def quick_locks() -> Iterator[None]:
    """Writes in this block fail after `LIVE_BUSY_MS` on a lock held elsewhere (to be retried
    asynchronously) instead of blocking the thread."""
    token = _quick.set(True)
    try:
        yield
    finally:
        _quick.reset(token)


@contextmanager
def blocking_locks() -> Iterator[None]:
    """Writes in this block wait out a lock held elsewhere (`BLOCKING_BUSY_MS`), even inside
    `quick_locks()`: for what must not fail (and be retried) once another store committed."""
    token = _quick.set(False)
    try:
        yield
    finally:
        _quick.reset(token)


START_BUSY_S = 5.0
"""How long start-up waits for a lock held by another process before naming it."""


def sync_level() -> str:
    """`FUNCHOST_SYNC` (normal|full) as SQLite's synchronous value."""
    raw = os.environ.get("FUNCHOST_SYNC", "normal").strip().lower() or "normal"
    if raw not in SYNC_LEVELS:
        raise ValueError(
            f"FUNCHOST_SYNC={raw!r} is invalid: use normal (kill -9 safe, the default) or "
            "full (power-loss safe, slower writes)"
        )
    return SYNC_LEVELS[raw]


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
        self.exclusive = exclusive
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._owner = _own(self.path)
                self._refuse_damaged_wal()
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=START_BUSY_S
        )
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={sync_level()}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            if exclusive:
                self.conn.execute("BEGIN IMMEDIATE")  # wait for (then name) a lock held elsewhere
                self.conn.execute("ROLLBACK")
                self._refuse_damaged_db()
        except (sqlite3.Error, StoreDamaged) as exc:
            self._close_quietly()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StoreInUse(self._locked_message()) from None
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                exc, sqlite3.OperationalError
            ):
                raise StoreDamaged(self._damaged_message(str(exc))) from None
            raise
        self._depth = 0
        self._busy_ms = self._slow_ms = int(START_BUSY_S * 1000)
        self._lock = threading.RLock()
        self._schemas: set[str] = set()

    def _refuse_damaged_wal(self) -> None:
        from .store_check import wal_damage

        damage = wal_damage(self.path)
        if damage is not None:
            self._close_quietly()
            raise StoreDamaged(
                f"{damage}. The sidecar refuses to start on it. What to do: stop everything "
                f"using {self.path}, keep a copy of it and its -wal, then restore the latest "
                "backup (`funchost db backup` output), or accept the loss and keep what SQLite "
                f"can recover with `funchost db check --salvage {self.path}`"
            )

    def _refuse_damaged_db(self) -> None:
        from .store_check import quick_check

        problem = quick_check(self.conn)
        if problem is not None:
            raise StoreDamaged(self._damaged_message(problem))

    def _damaged_message(self, problem: str) -> str:
        return (
            f"{self.path} is damaged (PRAGMA quick_check: {problem}): the sidecar refuses to start "
            "on it. What to do: stop everything using it, keep a copy, restore the latest backup "
            "(`funchost db backup`), or try `sqlite3 DB .recover` into a new file"
        )

    def _locked_message(self) -> str:
        from .store_check import describe_pids, lock_holders

        return (
            f"{self.path} is locked for writing by {describe_pids(lock_holders(self.path))} "
            f"(waited {START_BUSY_S:g}s): stop that process or end its transaction, then start "
            "again"
        )

    def _close_quietly(self) -> None:
        with suppress(Exception):
            self.conn.close()
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def go_live(self) -> None:
        """After start-up: writers wait `BLOCKING_BUSY_MS`, or `LIVE_BUSY_MS` in `quick_locks()`."""
        with self._lock:
            self._slow_ms = BLOCKING_BUSY_MS
            self._busy_for_mode()

    def _busy_for_mode(self) -> None:
        """Set the connection's busy timeout for the caller's mode (a no-op when unchanged)."""
        want = LIVE_BUSY_MS if _quick.get() else self._slow_ms
        if want != self._busy_ms:
            self.conn.execute(f"PRAGMA busy_timeout={want}")
            self._busy_ms = want

    def checkpoint(self) -> None:
        """Copy the WAL into the `.db` and truncate it (`PRAGMA wal_checkpoint(TRUNCATE)`)."""
        with self._lock:
            self.conn.execute(f"PRAGMA busy_timeout={int(START_BUSY_S * 1000)}")
            self._busy_ms = int(START_BUSY_S * 1000)
            row = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if row is not None and row[0]:
                raise sqlite3.OperationalError(
                    f"checkpoint of {self.path} incomplete: a reader in another process holds "
                    "the WAL"
                )

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
            self._busy_for_mode()
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
            if not self._depth:
                self._busy_for_mode()
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
        """Checkpoint (the owning sidecar: the `.db` alone then holds everything) and close."""
        with self._lock:
            if self.exclusive and self.path != ":memory:":
                try:
                    self.checkpoint()
                except sqlite3.Error as exc:
                    log.warning("%s: WAL kept (%s); replayed at the next start", self.path, exc)
            with suppress(sqlite3.Error):
                self.conn.close()
            if self._owner is not None:
                self._owner.close()  # releases the flock
                self._owner = None
