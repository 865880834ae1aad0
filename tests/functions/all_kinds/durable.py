"""Actor, workflow and activity triggers."""

from __future__ import annotations

from dapr.actor import Actor, ActorInterface, actormethod

from funchost import activity, actor, workflow


class CounterInterface(ActorInterface):
    @actormethod(name="Increment")
    async def increment(self, by: int) -> int: ...


@actor(idle_timeout="30m", reentrancy=True)
class CounterActor(Actor, CounterInterface):
    async def increment(self, by: int) -> int:
        _, value = await self._state_manager.try_get_state("count")
        total = (value or 0) + by
        await self._state_manager.set_state("count", total)
        return total


@workflow
def double_it(ctx, value: int):
    result = yield ctx.call_activity(double, input=value)
    return result


@activity
def double(ctx, value: int) -> int:
    return value * 2


@activity(name="shout")
async def shout_async(ctx, text: str) -> str:
    return text.upper()
