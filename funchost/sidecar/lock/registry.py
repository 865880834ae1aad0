"""Lock stores by component type: a new store is one module plus one line here."""

from __future__ import annotations

from collections.abc import Callable

from ..component import Component
from ..subsystem import Runtime
from ._store import LockStore


def _sqlite(comp: Component, sidecar: Runtime) -> LockStore:
    from .sqlite import SqliteLockStore

    return SqliteLockStore(sidecar.store, comp.name, sidecar.clock.time)


def _redis(comp: Component, sidecar: Runtime) -> LockStore:
    from .redis import RedisLockStore

    return RedisLockStore(comp)


#: `factory(component, sidecar)` by component type
LOCK_STORES: dict[str, Callable[[Component, Runtime], LockStore]] = {
    "lock.sqlite": _sqlite,
    "lock.redis": _redis,
}
