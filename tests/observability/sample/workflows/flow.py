"""A small workflow for the timeline / workflow CLI tests."""

from __future__ import annotations

import logging

from funchost import FunctionContext, activity, topic, workflow

log = logging.getLogger("sample.flow")


@activity(name="double")
def double(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
    log.info("doubling %s", n)
    return n * 2


@workflow(name="doubler")
def doubler(ctx, n: int):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity("double", input=n)
    b = yield ctx.call_activity("double", input=a)
    return b


@topic("pubsub", "start-doubler")
async def start_doubler(item: dict, ctx: FunctionContext) -> None:
    log.info("starting doubler %s", item["id"])
    await ctx.start_workflow("doubler", item["n"], instance_id=item["id"])
