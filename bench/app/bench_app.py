"""The functions `bench/product.py` drives through `funchost run bench/app`.

Workflows (5-step chains of a no-op activity, a fan-out of activities that sleep 1 s, a
one-step workflow for the memory figure), a topic handler that counts deliveries, and an actor
that increments a counter kept in actor state (one state save per call).
"""

from __future__ import annotations

import asyncio
from typing import Any

import dapr.ext.workflow as wf
from dapr.actor import Actor, ActorInterface, actormethod

from funchost import activity, actor, invoke, topic, workflow

CHAIN = 5
DELIVERED = {"count": 0}


@activity
def step(ctx: wf.WorkflowActivityContext, x: int) -> int:
    """A no-op activity: the engine's cost alone."""
    return x


@activity
async def nap(ctx: wf.WorkflowActivityContext, x: int) -> int:
    """An I/O-bound activity: waits 1 s."""
    await asyncio.sleep(1.0)
    return x


@workflow
def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    """CHAIN activities one after the other."""
    for _ in range(CHAIN):
        x = yield ctx.call_activity(step, input=x)
    return x


@workflow
def fan(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    """`n` sleeping activities at once."""
    results = yield wf.when_all([ctx.call_activity(nap, input=i) for i in range(n)])
    return len(results)


@workflow
def single(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    """One activity, then done (the finished-instance memory figure)."""
    return (yield ctx.call_activity(step, input=x))


@topic("pubsub", "bench-events")
async def on_event(data: dict[str, Any]) -> None:
    """Count each delivered event."""
    DELIVERED["count"] += 1


@invoke("delivered", methods=("GET",))
async def delivered() -> dict[str, int]:
    """How many events `on_event` has received."""
    return DELIVERED


class CounterInterface(ActorInterface):
    @actormethod(name="Increment")
    async def increment(self, by: int) -> int: ...


@actor
class Counter(Actor, CounterInterface):
    """Increments a count in actor state: a read (cached) and a save per call."""

    async def increment(self, by: int) -> int:
        _, current = await self._state_manager.try_get_state("count")
        value = (current or 0) + by
        await self._state_manager.set_state("count", value)
        await self._state_manager.save_state()
        return value
