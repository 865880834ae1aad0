"""The state store interface (`StateBackend`) and the values that cross it.

A backend module (sqlite.py, memory.py, redis.py) defines `create(comp, ctx) -> StateBackend`;
registry.py maps a component type (`state.<name>`) to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..component import Component
from ..store import Store

FIRST_WRITE = "first-write"
LAST_WRITE = "last-write"


class EtagMismatch(Exception):
    """The etag given does not match the stored version (or first-write found a value)."""


class EtagInvalid(Exception):
    """The etag given is not one this store issued (not an integer)."""


@dataclass
class StateItem:
    """One value to write (`value=None` with op "delete")."""

    key: str
    value: bytes | None = None
    etag: str | None = None
    concurrency: str = LAST_WRITE
    ttl: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)


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
StateFactory = Callable[[Component, BackendContext], StateBackend]


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
