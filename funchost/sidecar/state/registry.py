"""State store backends by component type: a new store is one module plus one line here."""

from __future__ import annotations

from . import memory, postgresql, redis, sqlite
from .backend import StateFactory

STATE_BACKENDS: dict[str, StateFactory] = {
    "state.sqlite": sqlite.create,
    "state.in-memory": memory.create,
    "state.redis": redis.create,
    "state.postgresql": postgresql.create,
    "state.postgres": postgresql.create,
}
