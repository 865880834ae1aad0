"""Sample functions for the observability end-to-end tests."""

from __future__ import annotations

import logging

from dapr.actor import Actor, ActorInterface, actormethod

from funchost import Drop, FunctionContext, Retry, actor, invoke, topic

log = logging.getLogger("sample.chain")
ATTEMPTS: dict[str, int] = {}


@topic("pubsub", "orders")
async def on_order(order: dict, ctx: FunctionContext) -> None:
    log.info("order %s received", order["id"])
    await ctx.publish("pubsub", "shipments", {"order": order["id"]})


@topic("pubsub", "shipments")
async def on_shipment(shipment: dict) -> None:
    log.info("shipment for order %s received", shipment["order"])


@topic("pubsub", "flaky", dead_letter_topic="flaky-dlq")
async def flaky(item: dict) -> None:
    seen = ATTEMPTS[item["id"]] = ATTEMPTS.get(item["id"], 0) + 1
    mode = item["mode"]
    if mode == "retry" and seen == 1:
        raise Retry("not yet")
    if mode == "boom" and seen == 1:
        raise RuntimeError("boom")
    if mode == "drop":
        raise Drop("unwanted")
    log.info("flaky %s done after %d attempt(s)", item["id"], seen)


@invoke("ping", methods=("GET",))
def ping() -> dict[str, str]:
    return {"pong": "yes"}


class CounterInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> int: ...


@actor
class Counter(Actor, CounterInterface):
    async def add(self, n: int) -> int:
        log.info("counter add %s", n)
        return n


@topic("pubsub", "counts")
async def on_count(item: dict, ctx: FunctionContext) -> None:
    log.info("count event %s", item["id"])
    await ctx.actor(Counter, item["id"]).Add(item["n"])
