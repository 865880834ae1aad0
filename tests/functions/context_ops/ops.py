"""Functions exercising FunctionContext against a sidecar (state/etags, publish, bindings)."""

from __future__ import annotations

from funchost import FunctionContext, invoke, topic
from funchost.context import EtagMismatch

RECEIVED: list[object] = []


@invoke("state/{key}", methods=("PUT",))
async def put_state(key: str, body: dict, ctx: FunctionContext) -> dict:
    await ctx.save_state(key, body)
    entry = await ctx.get_state_entry(key)
    stale = entry.etag
    await ctx.save_state(key, {**body, "v": 2}, etag=entry.etag)
    try:
        await ctx.save_state(key, {"v": 3}, etag=stale)
        conflict = False
    except EtagMismatch:
        conflict = True
    value = await ctx.get_state(key)
    await ctx.delete_state("missing-key")
    return {"value": value, "conflict": conflict, "missing": await ctx.get_state("missing-key")}


@invoke("publish", methods=("POST",))
async def publish(body: dict, ctx: FunctionContext) -> None:
    await ctx.publish("pubsub", "ctx-echo", body)


@topic("pubsub", "ctx-echo")
async def on_echo(body: dict, ctx: FunctionContext) -> None:
    ctx.logger.info("echo %s", body)
    RECEIVED.append((body, ctx.event_id is not None, ctx.trace_id is not None))
