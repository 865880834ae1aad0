"""`state.in-memory`: the SQLite backend on a private in-memory database (lost on restart)."""

from __future__ import annotations

from ..component import Component
from .backend import BackendContext
from .sqlite import SqliteStateBackend


def create(comp: Component, ctx: BackendContext) -> SqliteStateBackend:
    """The `state.in-memory` store `comp`."""
    return SqliteStateBackend(ctx.memory_store(), comp.name, ctx.clock_time)
