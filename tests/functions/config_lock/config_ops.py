"""Functions using the Configuration API and distributed locks through FunctionContext."""

from __future__ import annotations

from funchost import FunctionContext, LockNotAcquired, invoke


@invoke("config", methods=("POST",))
async def read_config(body: list[str], ctx: FunctionContext) -> dict:
    items = await ctx.get_configuration("configstore", body)
    return {k: {"value": v.value, "version": v.version} for k, v in items.items()}


@invoke("count/{name}", methods=("POST",))
async def count(name: str, ctx: FunctionContext) -> int:
    """Read-modify-write of a counter, made safe across callers by a distributed lock."""
    async with ctx.lock("lockstore", f"counter-{name}", expiry=30, wait=20):
        value = await ctx.get_state(f"counter-{name}") or 0
        await ctx.save_state(f"counter-{name}", value + 1)
        return value + 1


@invoke("contended", methods=("POST",))
async def contended(ctx: FunctionContext) -> str:
    async with ctx.lock("lockstore", "contended", expiry=30):
        try:
            async with ctx.lock("lockstore", "contended", expiry=30):
                return "acquired twice"
        except LockNotAcquired as exc:
            return str(exc)
