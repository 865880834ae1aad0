"""Connected workers and the work items in flight on each (completion tokens)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field

from ._pb import pb


@dataclass
class WorkerConn:
    """One `GetWorkItems` stream: its outgoing queue and what it was handed."""

    conn_id: int
    health_pings: bool
    stateful: bool = False  # WORKER_CAPABILITY_STATEFUL_HISTORY: keeps histories between turns
    queue: asyncio.Queue[pb.WorkItem | None] = field(default_factory=asyncio.Queue)
    turns: set[str] = field(default_factory=set)
    activities: dict[str, int] = field(default_factory=dict)  # token -> activity row id
    warm: dict[str, tuple[str, int]] = field(default_factory=dict)  # iid -> (execution, events)
    closed: bool = False


class Dispatcher:
    """Round-robin over connected workers; mints completion tokens unique to this process."""

    def __init__(self) -> None:
        self.workers: list[WorkerConn] = []
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._boot = uuid.uuid4().hex[:8]
        self._rr = 0
        self.connected = asyncio.Event()

    def token(self, kind: str) -> str:
        """A fresh completion token; tokens of a previous process never match."""
        return f"{kind}-{self._boot}-{next(self._tokens)}"

    def connect(self, health_pings: bool, stateful: bool = False) -> WorkerConn:
        conn = WorkerConn(next(self._ids), health_pings, stateful)
        self.workers.append(conn)
        self.connected.set()
        return conn

    def disconnect(self, conn: WorkerConn) -> None:
        conn.closed = True
        if conn in self.workers:
            self.workers.remove(conn)
        if not self.workers:
            self.connected.clear()

    def pick(self) -> WorkerConn | None:
        """The next worker in round-robin order, or None when none is connected."""
        if not self.workers:
            return None
        self._rr = (self._rr + 1) % len(self.workers)
        return self.workers[self._rr]
