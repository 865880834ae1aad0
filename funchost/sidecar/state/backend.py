"""The state store interface (`StateBackend`) and the values that cross it.

A backend module (sqlite.py, memory.py, redis.py) defines `create(comp, ctx) -> StateBackend`;
a network store that must not block the event loop (postgresql.py) returns an
`AsyncStateBackend` instead. registry.py maps a component type (`state.<name>`) to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..component import Component
from ..store import Store
from .query import Query

FIRST_WRITE = "first-write"
LAST_WRITE = "last-write"


class EtagMismatch(Exception):
    """The etag given does not match the stored version (or first-write found a value)."""


class EtagInvalid(Exception):
    """The etag given is not one this store issued (not an integer)."""


class StateStoreError(Exception):
    """The store refused an operation for another reason (daprd answers 500 with the message)."""


@dataclass
class StateItem:
    """One value to write (`value=None` with op "delete")."""

    key: str
    value: bytes | None = None
    etag: str | None = None
    concurrency: str = LAST_WRITE
    ttl: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: the value is JSON (HTTP API, or gRPC with metadata contentType application/json):
    #: stores with a JSON column (state.postgresql) keep it as JSON, others as bytes
    is_json: bool = False
    #: write the key as given, without the store's key prefix (daprd's outbox marker keys)
    raw_key: bool = False


@dataclass
class StoredValue:
    """A value read back: bytes, its etag, and its expiry (epoch seconds) if it has a TTL."""

    value: bytes
    etag: str
    expires: float | None = None


def ttl_from_metadata(metadata: dict[str, str]) -> float | None:
    """`ttlInSeconds` metadata as seconds (None when absent or -1 = never expire)."""
    raw = metadata.get("ttlInSeconds")
    if raw is None or raw == "":
        return None
    try:
        ttl = float(raw)
    except ValueError:
        raise ValueError(f"metadata ttlInSeconds {raw!r} is not a number") from None
    return None if ttl < 0 else ttl


class StateBackend(Protocol):
    """One state store: etags, first-write/last-write, TTL, all-or-nothing transactions.

    Etag problems raise `EtagMismatch` / `EtagInvalid`; the subsystem maps them to daprd's codes.
    """

    name: str

    def get(self, key: str) -> StoredValue | None:
        """The live value of `key`, or None."""
        ...

    def bulk_get(self, keys: list[str]) -> dict[str, StoredValue | None]:
        """`get` for each key."""
        ...

    def set(self, item: StateItem) -> str:
        """Write one value; returns its new etag."""
        ...

    def set_many(self, items: list[StateItem]) -> None:
        """Write several values atomically."""
        ...

    def delete(self, item: StateItem) -> None:
        """Delete one key (checking its etag if given)."""
        ...

    def transact(self, ops: list[tuple[str, StateItem]]) -> None:
        """Apply `("upsert"|"delete", item)` operations all-or-nothing."""
        ...

    def purge_expired(self) -> int:
        """Drop values whose TTL passed; returns how many."""
        ...


@dataclass
class QueryItem:
    """One query result: the key (app prefix removed), the value's JSON text, its etag."""

    key: str
    data: bytes
    etag: str


@dataclass
class QueryResult:
    """A page of query results and the token of the next page ("" when none)."""

    results: list[QueryItem]
    token: str = ""


@runtime_checkable
class AsyncStateBackend(Protocol):
    """A state store reached over the network without blocking the sidecar's event loop
    (state.postgresql): the same operations as `StateBackend`, awaited, plus open/close."""

    name: str

    async def open(self) -> None:
        """Connect and migrate the schema (ComponentError naming the field when it cannot)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def get(self, key: str) -> StoredValue | None: ...

    async def bulk_get(self, keys: list[str]) -> dict[str, StoredValue | None]: ...

    async def set_many(self, items: list[StateItem]) -> None: ...

    async def delete(self, item: StateItem) -> None: ...

    async def transact(self, ops: list[tuple[str, StateItem]]) -> None: ...

    async def purge_expired(self) -> int: ...


@runtime_checkable
class Querier(Protocol):
    """A store that answers Dapr's state query language (daprd's `state.Querier`)."""

    async def query(self, query: Query, metadata: dict[str, str]) -> QueryResult:
        """Run `query`; raises `QueryError` (query.py) when the store refuses it."""
        ...


class SyncBackendAdapter:
    """A `StateBackend` (SQLite, in-memory, Redis) seen as an `AsyncStateBackend`."""

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self.name = backend.name

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, key: str) -> StoredValue | None:
        return self.backend.get(key)

    async def bulk_get(self, keys: list[str]) -> dict[str, StoredValue | None]:
        return self.backend.bulk_get(keys)

    async def set_many(self, items: list[StateItem]) -> None:
        self.backend.set_many(items)

    async def delete(self, item: StateItem) -> None:
        self.backend.delete(item)

    async def transact(self, ops: list[tuple[str, StateItem]]) -> None:
        self.backend.transact(ops)

    async def purge_expired(self) -> int:
        return self.backend.purge_expired()

    def unprefixed(self) -> SyncBackendAdapter:
        """The store without its key prefix, when the backend has one (actor state)."""
        view = getattr(self.backend, "unprefixed", None)
        return SyncBackendAdapter(view()) if view is not None else self


@dataclass
class BackendContext:
    """What a backend may use of the sidecar: its database, app id and clock."""

    store: Store
    app_id: str
    clock_time: Callable[[], float]
    _memory: Store | None = field(default=None, repr=False)
    _files: dict[str, Store] = field(default_factory=dict, repr=False)

    def file_store(self, path: str) -> Store:
        """A database file that several sidecars open (a state store shared by apps)."""
        if path not in self._files:
            self._files[path] = Store(path)
        return self._files[path]

    def memory_store(self) -> Store:
        """The private in-memory database shared by this sidecar's `state.in-memory` stores."""
        if self._memory is None:
            self._memory = Store(":memory:")
        return self._memory


#: `create(comp, ctx)` of a backend module
StateFactory = Callable[[Component, BackendContext], StateBackend | AsyncStateBackend]


def key_prefix(strategy: str | None, app_id: str, store_name: str) -> str:
    """The key prefix daprd puts before `||` for a store's `keyPrefix` metadata
    (`pkg/components/state/state_config.go`): `appid` (default), `name` (the component's name,
    so every app loading it shares its keys), `namespace` (`$NAMESPACE.<app id>`), `none` (the
    bare key), or any other string as the prefix itself."""
    value = strategy or "appid"
    lowered = value.lower()
    if lowered == "none":
        return ""
    if lowered == "name":
        return store_name
    if lowered == "appid":
        return app_id
    if lowered == "namespace":
        namespace = os.environ.get("NAMESPACE")
        return f"{namespace}.{app_id}" if namespace and app_id else app_id
    return value
