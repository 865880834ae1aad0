"""A durable outbox of messages for other apps' sidecars on this machine (found by app id in
the local name registry), used by cross-app workflows and pub/sub fan-out.

Rows are inserted by the caller inside its own transaction (`add`), handed over once it has
committed (`enqueue`), then POSTed in batches (JSON `{"source": <app>, "items": [...]}`) to the
target sidecar's internal `path`. The target commits them before answering 200; only then are
the rows deleted. An absent or failing target is retried with backoff (real time) for as long
as it takes: at-least-once, in order per target app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .app_channel import AppUnavailable, FastHttpPool
from .invocation.remote import RemoteSidecars
from .store import Store

log = logging.getLogger("funchost.sidecar.peers")

BATCH = 256
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 2.0  # daprd's callWithBackoff caps its interval at 3 s
SOURCE_HEADER = "funchost-source-app"


@dataclass
class _Target:
    """The rows owed to one app and the state of their delivery."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    blocked: str | None = None  # why the last attempt failed (shown while waiting)
    since: float | None = None
    attempts: int = 0


class PeerOutbox:
    """Delivers committed rows of `table` to their apps' sidecars (POST `path`), one task
    per target app."""

    def __init__(
        self,
        store: Store,
        table: str,
        path: str,
        app_id: str,
        namespace: str,
        registry_dir: Path | str | None = None,
    ) -> None:
        self.store = store
        self.table = table
        self.path = path
        self.app_id = app_id
        self.namespace = namespace
        store.ensure_schema(
            table,
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " app_id TEXT NOT NULL, envelope BLOB NOT NULL);",
        )
        self.sidecars = RemoteSidecars(registry_dir)
        self.targets: dict[str, _Target] = {}
        self._pools: dict[tuple[str, int], FastHttpPool] = {}
        self._closed = False

    # -- writes (inside the caller's store.tx()) -----------------------------------------------

    def add(self, conn: Any, app_id: str, env: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
        cur = conn.execute(
            f"INSERT INTO {self.table} (app_id, envelope) VALUES (?,?)",
            (app_id, json.dumps(env).encode()),
        )
        return app_id, int(cur.lastrowid or 0), env

    def enqueue(self, rows: list[tuple[str, int, dict[str, Any]]]) -> None:
        """Start delivering rows whose transaction has committed."""
        for app_id, rid, env in rows:
            target = self.targets.setdefault(app_id, _Target())
            target.rows[rid] = env
            self._start(app_id, target)

    def load(self) -> None:
        """Owed rows after a restart."""
        rows = self.store.query(f"SELECT id, app_id, envelope FROM {self.table} ORDER BY id")
        self.enqueue([(r["app_id"], int(r["id"]), json.loads(r["envelope"])) for r in rows])

    # -- what an instance waits for ------------------------------------------------------------

    def waiting_note(self, instance_id: str) -> str | None:
        """'waiting for app ...' while a message this instance sent cannot be delivered."""
        for app_id, target in self.targets.items():
            if target.blocked is None:
                continue
            if any(env.get("sender") == instance_id for env in target.rows.values()):
                waited = time.monotonic() - (target.since or time.monotonic())
                return (
                    f"waiting for app '{app_id}' ({target.blocked}); retried "
                    f"{target.attempts} times over {waited:.0f}s"
                )
        return None

    # -- delivery -------------------------------------------------------------------------------

    def _start(self, app_id: str, target: _Target) -> None:
        if self._closed or (target.task is not None and not target.task.done()):
            return
        target.task = asyncio.get_running_loop().create_task(self._deliver(app_id, target))

    async def _deliver(self, app_id: str, target: _Target) -> None:
        delay = BACKOFF_FIRST
        while target.rows and not self._closed:
            batch = dict(list(target.rows.items())[:BATCH])
            try:
                error = await self._send(app_id, batch)
            except Exception as exc:  # never lose the loop: the rows stay and are retried
                log.exception("%s: delivering to app %r failed", self.table, app_id)
                error = f"delivery failed: {exc!r}"
            if error is None:
                with self.store.tx() as conn:
                    conn.executemany(
                        f"DELETE FROM {self.table} WHERE id = ?", [(rid,) for rid in batch]
                    )
                for rid in batch:
                    target.rows.pop(rid, None)
                target.blocked, target.since, target.attempts = None, None, 0
                delay = BACKOFF_FIRST
                continue
            if target.blocked is None:
                log.warning("%s: messages for app %r wait: %s", self.table, app_id, error)
                target.since = time.monotonic()
            target.blocked = error
            target.attempts += 1
            await asyncio.sleep(delay)  # real time: a transport retry, not workflow time
            delay = min(delay * 2, BACKOFF_MAX)

    async def _send(self, app_id: str, batch: dict[int, dict[str, Any]]) -> str | None:
        """POST one batch; None when the target committed it, else why not."""
        address = await self.sidecars.find(app_id, self.namespace)
        if address is None:
            return "not registered on this machine"
        key = (address.host, address.http_port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = FastHttpPool(address.host, address.http_port)
        body = json.dumps({"source": self.app_id, "items": list(batch.values())}).encode()
        try:
            resp = await pool.request(
                "POST",
                self.path,
                body,
                {"content-type": "application/json", SOURCE_HEADER: self.app_id},
                timeout=30.0,
            )
        except AppUnavailable as exc:
            self.sidecars.forget(app_id, self.namespace)
            return f"sidecar unreachable: {exc}"
        if resp.status != 200:
            return f"sidecar answered {resp.status}: {resp.body[:200].decode(errors='replace')}"
        return None

    async def close(self) -> None:
        self._closed = True
        for target in self.targets.values():
            if target.task is not None:
                target.task.cancel()
                with contextlib.suppress(BaseException):
                    await target.task
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await self.sidecars.close()
