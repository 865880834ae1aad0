"""The daily sweep: escalate overdue tasks, forget finished ones, publish a summary.

Deadline reminders mark tasks `overdue` as they pass (see `TaskActor.receive_reminder`); the
sweep looks at every task once a day. It runs as a Dapr job, so with several replicas it still
fires once per day, not once per replica.
"""

from __future__ import annotations

from collections import Counter

from funchost import FunctionContext, cron

from . import task_index
from .models import (
    PUBSUB,
    TASK_EVENTS,
    TASK_SUMMARIES,
    DailySummary,
    Task,
    TaskEvent,
    TaskStatus,
    workflow_id_for,
)
from .task_actor import TaskActor


@cron("@daily", name="daily-sweep")
async def daily_sweep(ctx: FunctionContext) -> None:
    """Count tasks per status, escalate the overdue ones, drop finished ones from the index."""
    counts: Counter[str] = Counter()
    overdue: list[str] = []
    finished: list[str] = []
    for task_id in await task_index.load(ctx):
        found = await ctx.actor(TaskActor, task_id).GetTask()
        if found is None:  # not created (yet): forget it once its workflow is over
            if not await _still_processing(ctx, task_id):
                finished.append(task_id)
            continue
        task = Task.model_validate(found)
        counts[task.status] += 1
        if task.status is TaskStatus.OVERDUE:
            overdue.append(task_id)
            escalation = TaskEvent(type="task.escalated", task_id=task_id)
            await ctx.publish(PUBSUB, TASK_EVENTS, escalation.model_dump(mode="json"))
        elif task.status is TaskStatus.DONE:
            finished.append(task_id)
    await task_index.remove(ctx, finished)
    summary = DailySummary(counts=dict(counts), overdue=overdue)
    ctx.logger.info("daily sweep: %s, overdue: %s", dict(counts), overdue)
    await ctx.publish(PUBSUB, TASK_SUMMARIES, summary.model_dump(mode="json"))


async def _still_processing(ctx: FunctionContext, task_id: str) -> bool:
    state = await ctx.workflows.get_workflow_state(workflow_id_for(task_id), fetch_payloads=False)
    return state is not None and state.runtime_status.name in ("PENDING", "RUNNING")
