"""Cross-app workflows: the durable sidecar-to-sidecar outbox and its wire format.

daprd routes an activity or child workflow whose `WorkflowAction.router.targetAppID` names
another app to that app's daprd (actor types `dapr.internal.<ns>.<app>.activity|workflow`). The
embedded sidecar does the same over loopback: every message for another app (an activity to run,
a child to start, a result or completion to report, a terminate or purge to recurse) is first
committed to `wf_remote_out` in the transaction of the turn that caused it, then POSTed in
batches to the target sidecar's `/funchost/internal/workflows/deliver`, found through the local
name registry. The target commits what it receives before answering 200; only then is the row
deleted. While the target is not registered (or does not answer) the row stays and is retried
with backoff, so the parent waits, as under daprd.

Envelope kinds: `activity` (an `ActivityRequest`; idempotent on the target by source app,
instance, execution and task id, kept in `wf_remote_seen`), `event` (a `HistoryEvent` for an
instance's inbox: results, child completions, terminations), `start` (a child's
`executionStarted`), `purge` (recursive purge of a child).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..app_channel import AppUnavailable, FastHttpPool
from ..invocation.remote import RemoteSidecars
from ..store import Store

log = logging.getLogger("funchost.sidecar.workflows.remote")

DELIVER_PATH = "/funchost/internal/workflows/deliver"
SOURCE_HEADER = "funchost-source-app"
BATCH = 256
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 2.0  # daprd's callWithBackoff caps its interval at 3 s

SCHEMA = """
CREATE TABLE IF NOT EXISTS wf_remote_out (
    id INTEGER PRIMARY KEY AUTOINCREMENT, app_id TEXT NOT NULL, envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS wf_remote_seen (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_activity_origin (
    activity_id INTEGER PRIMARY KEY, source_app TEXT NOT NULL
);
"""


def envelope(
    kind: str,
    instance: str,
    payload: bytes,
    execution: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """One message for another app; `sender` is the local instance that waits on it."""
    return {
        "kind": kind,
        "instance": instance,
        "execution": execution,
        "sender": sender,
        "payload": base64.b64encode(payload).decode(),
    }


def payload_of(env: dict[str, Any]) -> bytes:
    return base64.b64decode(env["payload"])


@dataclass
class _Target:
    """The rows owed to one app and the state of their delivery."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    blocked: str | None = None  # why the last attempt failed (shown while waiting)
    since: float | None = None
    attempts: int = 0


class RemoteOutbox:
    """Delivers committed `wf_remote_out` rows to their apps' sidecars, one task per app."""

    def __init__(
        self,
        store: Store,
        app_id: str,
        namespace: str,
        registry_dir: Path | str | None = None,
    ) -> None:
        self.store = store
        self.app_id = app_id
        self.namespace = namespace
        store.ensure_schema("workflows-remote", SCHEMA)
        self.sidecars = RemoteSidecars(registry_dir)
        self.targets: dict[str, _Target] = {}
        self._pools: dict[tuple[str, int], FastHttpPool] = {}
        self._closed = False

    # -- writes (inside the caller's store.tx()) -----------------------------------------------

    def add(self, conn: Any, app_id: str, env: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
        cur = conn.execute(
            "INSERT INTO wf_remote_out (app_id, envelope) VALUES (?,?)",
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
        rows = self.store.query("SELECT id, app_id, envelope FROM wf_remote_out ORDER BY id")
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
            error = await self._send(app_id, batch)
            if error is None:
                with self.store.tx() as conn:
                    conn.executemany(
                        "DELETE FROM wf_remote_out WHERE id = ?", [(rid,) for rid in batch]
                    )
                for rid in batch:
                    target.rows.pop(rid, None)
                target.blocked, target.since, target.attempts = None, None, 0
                delay = BACKOFF_FIRST
                continue
            if target.blocked is None:
                log.warning("workflow messages for app %r wait: %s", app_id, error)
                target.since = time.monotonic()
            target.blocked = error
            target.attempts += 1
            await asyncio.sleep(delay)  # real time: a transport retry, not workflow time
            delay = min(delay * 2, BACKOFF_MAX)

    async def _send(self, app_id: str, batch: dict[int, dict[str, Any]]) -> str | None:
        """POST one batch; None when the target committed it, else why not."""
        address = self.sidecars.lookup(app_id, self.namespace)
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
                DELIVER_PATH,
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
