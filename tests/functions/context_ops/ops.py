"""Functions exercising FunctionContext against a sidecar (state/etags, publish, bindings)."""

from __future__ import annotations

from dapr.actor import Actor, ActorInterface, actormethod

from funchost import FunctionContext, activity, actor, invoke, topic, workflow
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


@invoke("secret/{name}", methods=("GET",))
async def read_secret(name: str, ctx: FunctionContext) -> dict:
    return await ctx.get_secret("localsecretstore", name)


@workflow
def triple(ctx, value: int):
    result = yield ctx.call_activity(times_three, input=value)
    return result


@activity
async def times_three(ctx, value: int) -> int:
    return value * 3


@invoke("triple/{value}", methods=("POST",))
async def start_triple(value: int, ctx: FunctionContext) -> dict:
    instance = await ctx.start_workflow(triple, value)
    state = await ctx.workflows.wait_for_workflow_completion(instance, timeout_in_seconds=30)
    return {"instance": instance, "output": state.serialized_output}


class TallyInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, by: int) -> int: ...


@actor
class Tally(Actor, TallyInterface):
    async def add(self, by: int) -> int:
        _, value = await self._state_manager.try_get_state("n")
        total = (value or 0) + by
        await self._state_manager.set_state("n", total)
        await self._state_manager.save_state()
        return total


@invoke("tally/{tally_id}", methods=("POST",))
async def add_to_tally(tally_id: str, by: int, ctx: FunctionContext) -> int:
    return await ctx.actor(Tally, tally_id).Add(by)  # proxies use the actormethod name
