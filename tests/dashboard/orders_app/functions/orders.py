"""A subscriber that gives up on an order until it is told to accept them (state key `open`):
the dashboard tests dead-letter an order, open the shop, re-drive it and see it delivered."""

from __future__ import annotations

from typing import Any

from funchost import Drop, FunctionContext, topic


@topic("pubsub", "orders", dead_letter_topic="orders-dlq")
async def on_order(order: dict[str, Any], ctx: FunctionContext) -> None:
    """Drop the order while the shop is closed, else record it as `delivered:<id>`."""
    if not await ctx.get_state("open"):
        raise Drop("the shop is closed")
    await ctx.save_state(f"delivered:{order['id']}", order)
