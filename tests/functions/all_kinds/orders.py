"""Pub/sub, binding, cron and invoke triggers (a sample folder for tests and `funchost list`)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from funchost import Drop, FunctionContext, Retry, binding, cron, invoke, topic

SEEN: list[object] = []


class Order(BaseModel):
    id: str
    amount: float


@dataclass
class Ping:
    n: int


@topic("pubsub", "orders", dead_letter_topic="orders-dlq")
async def on_order(order: Order, ctx: FunctionContext) -> None:
    if order.amount < 0:
        raise Drop("negative amount")
    if order.id == "flaky":
        raise Retry("try later")
    if order.id == "boom":
        raise RuntimeError("boom")
    SEEN.append(("order", order.id, ctx.event_id))


@topic(
    "pubsub",
    "orders",
    match="event.type == 'refund'",
    route="/orders/refund",
    dead_letter_topic="orders-dlq",
)
def on_refund(order: Order) -> None:
    SEEN.append(("refund", order.id))


@topic("pubsub", "raw", metadata={"rawPayload": "true"})
async def on_raw(data: bytes, event: dict | None) -> None:
    SEEN.append(("raw", data, (event or {}).get("datacontenttype")))


@topic("pubsub", "pings", bulk=True, bulk_max_messages=10)
async def on_pings(pings: list[Ping]) -> None:
    SEEN.append(("pings", [p.n for p in pings]))


@binding("queue")
async def from_queue(payload: dict, metadata: dict) -> dict:
    SEEN.append(("queue", payload))
    return {"ok": True}


@cron("*/5 * * * *")
async def cleanup(ctx: FunctionContext) -> None:
    SEEN.append(("cleanup", ctx.definition.name if ctx.definition else None))


@cron("@every 30s", name="heartbeat", per_replica=True)
def heartbeat() -> None:
    SEEN.append(("heartbeat",))


@invoke("tasks/{task_id}", methods=("GET",))
async def get_task(task_id: int) -> dict:
    return {"id": task_id}


@invoke("tasks", methods=("POST",))
async def create_task(order: Order) -> dict:
    return {"created": order.id}
