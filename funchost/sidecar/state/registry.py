"""State store backends by component type: a new store is one module plus one line here.

The stores a default run does not use (Redis, PostgreSQL) are imported when a component of
their type is loaded, as the lock and configuration stores are.
"""

from __future__ import annotations

from ..component import Component
from . import memory, sqlite
from .backend import AsyncStateBackend, BackendContext, StateBackend, StateFactory


def _redis(comp: Component, ctx: BackendContext) -> StateBackend | AsyncStateBackend:
    from . import redis

    return redis.create(comp, ctx)


def _postgresql(comp: Component, ctx: BackendContext) -> StateBackend | AsyncStateBackend:
    from . import postgresql

    return postgresql.create(comp, ctx)


STATE_BACKENDS: dict[str, StateFactory] = {
    "state.sqlite": sqlite.create,
    "state.in-memory": memory.create,
    "state.redis": _redis,
    "state.postgresql": _postgresql,
    "state.postgres": _postgresql,
}
