"""Event handlers: analytics from conversations, a timeline per task, and the poison-event log.

Handlers receive the event's `data` validated into a model (a parameter named `event` gets
the whole CloudEvent instead). A payload that does not validate is dropped by the host and
lands on the `dead-letters` topic, where `on_dead_letter` keeps it for inspection. A handler
that raises is retried (see components/resiliency.yaml), then dead-lettered as well.

Delivery is at-least-once: after a crash an event may arrive twice. These handlers accept
that (a count may be one too high); key the update by `ctx.event_id` when it must not be.
"""

from __future__ import annotations

from typing import Any

from funchost import FunctionContext, topic

from ._state import update
from .models import (
    CONVERSATION_EVENTS,
    DEAD_LETTERS,
    PUBSUB,
    TASK_EVENTS,
    TASK_SUMMARIES,
    ConversationEvent,
    DailySummary,
    TaskEvent,
)

ANALYTICS_KEY = "analytics:conversations"
DEAD_LETTER_KEY = "dead-letters"
SUMMARY_KEY = "daily-summary"
KEEP_DEAD_LETTERS = 100


def timeline_key(task_id: str) -> str:
    """State key of the list of events seen for `task_id`."""
    return f"timeline:{task_id}"


@topic(PUBSUB, CONVERSATION_EVENTS, dead_letter_topic=DEAD_LETTERS)
async def on_conversation(exchange: ConversationEvent, ctx: FunctionContext) -> None:
    """Count exchanges, overall and per user."""

    def count(stats: dict[str, Any]) -> dict[str, Any]:
        users = stats.get("users", {})
        users[exchange.user_id] = users.get(exchange.user_id, 0) + 1
        return {"exchanges": stats.get("exchanges", 0) + 1, "users": users}

    await update(ctx, ANALYTICS_KEY, count, default={})


@topic(PUBSUB, TASK_EVENTS, dead_letter_topic=DEAD_LETTERS)
async def on_task_event(change: TaskEvent, ctx: FunctionContext) -> None:
    """Append the event to the task's timeline."""
    entry = {"type": change.type, "workflow_id": change.workflow_id, "detail": change.detail}
    await update(ctx, timeline_key(change.task_id), lambda timeline: [*timeline, entry], default=[])


@topic(PUBSUB, TASK_SUMMARIES, dead_letter_topic=DEAD_LETTERS)
async def on_daily_summary(summary: DailySummary, ctx: FunctionContext) -> None:
    """Keep the latest daily summary (a real system would mail it or chart it)."""
    await ctx.save_state(SUMMARY_KEY, summary.model_dump(mode="json"))


@topic(PUBSUB, DEAD_LETTERS)
async def on_dead_letter(event: dict[str, Any], ctx: FunctionContext) -> None:
    """Record a poison event (the last 100) so someone can look at it and replay it."""
    entry = {key: event.get(key) for key in ("id", "source", "type", "time", "data")}
    await update(ctx, DEAD_LETTER_KEY, lambda kept: [*kept, entry][-KEEP_DEAD_LETTERS:], default=[])
