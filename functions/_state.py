"""Read-modify-write of one state key with optimistic concurrency (etags)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from funchost import FunctionContext
from funchost.context import EtagMismatch

T = TypeVar("T")


async def update(
    ctx: FunctionContext, key: str, change: Callable[[T], T], default: T, attempts: int = 10
) -> T:
    """Apply `change` to the value of `key` (`default` when absent) and save it.

    The save carries the etag read, so a concurrent writer makes it fail; then the value is
    read again and `change` re-applied, up to `attempts` times.
    """
    for _ in range(attempts):
        entry = await ctx.get_state_entry(key)
        value = change(default if entry.value is None else entry.value)
        try:
            await ctx.save_state(key, value, etag=entry.etag)
            return value
        except EtagMismatch:
            continue
    raise EtagMismatch(f"state key '{key}' kept changing: gave up after {attempts} attempts")
