"""Actor state: a tiny interface, the configured-component adapter and a SQLite fallback.

daprd keeps actor state in the state store component marked `actorStateStore: "true"`, under keys
`<appId>||<actorType>||<actorId>||<key>`; `ComponentActorState` does exactly that on the sidecar's
state backend. `SqliteActorState` (table `actor_state`) is only used when the sidecar runs without
the state subsystem (e.g. an embedder trimmed SUBSYSTEMS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from ..clock import Clock
from ..store import Store
from ._group import GroupCommit, sqlite_backend

SCHEMA = """
CREATE TABLE IF NOT EXISTS actor_state (
    actor_type TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    expires    REAL,
    PRIMARY KEY (actor_type, actor_id, key)
) WITHOUT ROWID;
"""


class StateOpError(ValueError):
    """A malformed actor state transaction."""


@dataclass(frozen=True)
class StateOp:
    """One operation of an actor state transaction."""

    operation: str  # "upsert" | "delete"
    key: str
    value: bytes | None = None
    ttl_seconds: float | None = None
    #: the value is JSON (the HTTP API): a JSON store column keeps it as JSON, as daprd does
    is_json: bool = False


@dataclass(frozen=True)
class StateValue:
    """A stored value and its expiry (epoch seconds), if any."""

    value: bytes
    expires: float | None = None


def parse_ops(body: bytes) -> list[StateOp]:
    """Parse `[{"operation", "request": {"key", "value"?, "metadata": {"ttlInSeconds"}?}}]`."""
    try:
        doc = json.loads(body or b"[]")
    except ValueError as exc:
        raise StateOpError(f"actor state transaction body is not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise StateOpError("actor state transaction body must be a JSON array of operations")
    ops: list[StateOp] = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            raise StateOpError(f"operation #{i} must be an object")
        kind = str(item.get("operation", "")).lower()
        req = item.get("request") or {}
        if kind not in ("upsert", "delete"):
            raise StateOpError(
                f"operation #{i}: unknown operation {item.get('operation')!r}"
                " (use upsert or delete)"
            )
        key = req.get("key") if isinstance(req, dict) else None
        if not isinstance(key, str) or not key:
            raise StateOpError(f"operation #{i}: request.key is missing")
        ttl: float | None = None
        meta = req.get("metadata") or {}
        raw_ttl = meta.get("ttlInSeconds") if isinstance(meta, dict) else None
        if raw_ttl not in (None, ""):
            try:
                ttl = float(raw_ttl)
            except (TypeError, ValueError):
                raise StateOpError(
                    f"operation #{i}: metadata.ttlInSeconds {raw_ttl!r} is not a number"
                ) from None
        value: bytes | None = None
        if kind == "upsert":
            value = _encode(req.get("value"))
        ops.append(StateOp(kind, key, value, ttl, is_json=True))
    return ops


#: what `json.dumps(value, separators=(",", ":"), ensure_ascii=False)` does, built once
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _encode(value: Any) -> bytes:
    return _ENCODE(value).encode()


class ActorStateStore(Protocol):
    """Where actor state lives."""

    async def get(self, actor_type: str, actor_id: str, key: str) -> StateValue | None: ...

    async def transact(self, actor_type: str, actor_id: str, ops: list[StateOp]) -> None: ...


class _Backend(Protocol):
    async def get(self, key: str) -> Any: ...

    async def transact(self, ops: list[tuple[str, Any]]) -> None: ...


class ComponentActorState:
    """Actor state in the state store component flagged `actorStateStore: "true"`."""

    def __init__(self, backend: _Backend, app_id: str) -> None:
        self.backend = backend
        self.app_id = app_id
        sync = sqlite_backend(backend)
        #: a SQLite store: the transactions of one loop turn share one commit (see _group.py)
        self._group = GroupCommit(sync) if sync is not None else None

    def key(self, actor_type: str, actor_id: str, key: str) -> str:
        """daprd's key layout: `<appId>||<actorType>||<actorId>||<key>`."""
        return f"{self.app_id}||{actor_type}||{actor_id}||{key}"

    async def get(self, actor_type: str, actor_id: str, key: str) -> StateValue | None:
        found = await self.backend.get(self.key(actor_type, actor_id, key))
        return None if found is None else StateValue(found.value, found.expires)

    async def transact(self, actor_type: str, actor_id: str, ops: list[StateOp]) -> None:
        from ..state.backend import StateItem

        items = []
        for op in ops:
            ttl = op.ttl_seconds if op.ttl_seconds is not None and op.ttl_seconds > 0 else None
            item = StateItem(
                self.key(actor_type, actor_id, op.key), op.value, ttl=ttl, is_json=op.is_json
            )
            items.append((op.operation, item))
        if self._group is not None:
            await self._group.transact(items)
        else:
            await self.backend.transact(items)


class SqliteActorState:
    """Actor state in the sidecar's SQLite database, with TTLs on the sidecar clock."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        store.ensure_schema("actor_state", SCHEMA)

    async def get(self, actor_type: str, actor_id: str, key: str) -> StateValue | None:
        row = self.store.query_one(
            "SELECT value, expires FROM actor_state WHERE actor_type=? AND actor_id=? AND key=?",
            (actor_type, actor_id, key),
        )
        if row is None:
            return None
        if row["expires"] is not None and row["expires"] <= self.clock.time():
            return None
        return StateValue(bytes(row["value"]), row["expires"])

    async def transact(self, actor_type: str, actor_id: str, ops: list[StateOp]) -> None:
        now = self.clock.time()
        with self.store.tx() as conn:
            for op in ops:
                if op.operation == "delete":
                    conn.execute(
                        "DELETE FROM actor_state WHERE actor_type=? AND actor_id=? AND key=?",
                        (actor_type, actor_id, op.key),
                    )
                    continue
                expires = now + op.ttl_seconds if op.ttl_seconds is not None else None
                if op.ttl_seconds is not None and op.ttl_seconds <= 0:
                    expires = None  # daprd: ttlInSeconds <= 0 means "never expires"
                conn.execute(
                    "INSERT OR REPLACE INTO actor_state (actor_type, actor_id, key, value, expires)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (actor_type, actor_id, op.key, op.value, expires),
                )
            conn.execute(
                "DELETE FROM actor_state WHERE expires IS NOT NULL AND expires <= ?"
                " AND actor_type=? AND actor_id=?",
                (now, actor_type, actor_id),
            )
