"""The ids of the tasks the agent knows about, kept under one state key for the daily sweep.

Updates use the key's etag (optimistic concurrency), so concurrent requests never lose an id.
"""

from __future__ import annotations

from collections.abc import Iterable

from funchost import FunctionContext

from ._state import update

INDEX_KEY = "task-index"


async def add(ctx: FunctionContext, task_id: str) -> None:
    """Remember `task_id` (once)."""
    await update(ctx, INDEX_KEY, lambda ids: ids if task_id in ids else [*ids, task_id], [])


async def remove(ctx: FunctionContext, task_ids: Iterable[str]) -> None:
    """Forget `task_ids`."""
    gone = set(task_ids)
    if gone:
        await update(ctx, INDEX_KEY, lambda ids: [i for i in ids if i not in gone], [])


async def load(ctx: FunctionContext) -> list[str]:
    """Every remembered task id, oldest first."""
    return list(await ctx.get_state(INDEX_KEY) or [])
