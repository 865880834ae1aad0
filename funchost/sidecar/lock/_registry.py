"""Component type -> lock store factory: one registration line per type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..components import Component
from ._store import LockStore


def _sqlite(comp: Component, sidecar: Any) -> LockStore:
    from .sqlite import SqliteLockStore

    return SqliteLockStore(sidecar.store, comp.name, sidecar.clock.time)


def _redis(comp: Component, sidecar: Any) -> LockStore:
    from .redis import RedisLockStore

    return RedisLockStore(comp)


STORE_TYPES: dict[str, Callable[[Component, Any], LockStore]] = {
    "lock.sqlite": _sqlite,
    "lock.redis": _redis,
}
