"""The dashboard tests' app: a subscriber that gives up on an order until it is told to accept
them (state key `open`), so a test can dead-letter an order, open the shop, re-drive it and see
it delivered; and an input binding whose handler writes to an output binding (the outbox)."""

from __future__ import annotations

from typing import Any

from funchost import Drop, FunctionContext, binding, topic


@topic("pubsub", "orders", dead_letter_topic="orders-dlq")
async def on_order(order: dict[str, Any], ctx: FunctionContext) -> None:
    """Drop the order while the shop is closed, else record it as `delivered:<id>`."""
    if not await ctx.get_state("open"):
        raise Drop("the shop is closed")
    await ctx.save_state(f"delivered:{order['id']}", order)


@binding("shipments")
async def on_shipment(shipment: dict[str, Any], ctx: FunctionContext) -> None:
    """Confirm each shipment on the same (Kafka) binding: locally it lands in the outbox."""
    await ctx.invoke_binding("shipments", "create", {"confirmed": shipment["id"]})
