"""Poison events reach the dead-letter handler; the daily sweep escalates overdue tasks,
forgets finished ones and publishes its summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from funchost.testing import LocalRuntime
from functions.events import DEAD_LETTER_KEY, SUMMARY_KEY, timeline_key
from functions.models import PUBSUB, TASK_EVENTS
from functions.task_index import INDEX_KEY

from ._support import call, start

pytestmark = pytest.mark.e2e


async def test_poison_task_event_is_dead_lettered_and_recorded(agent: LocalRuntime) -> None:
    await agent.publish(PUBSUB, TASK_EVENTS, {"what": "not a task event"})
    await agent.idle()

    recorded = await agent.state().get(DEAD_LETTER_KEY)
    assert [entry["data"] for entry in recorded] == [{"what": "not a task event"}]
    assert recorded[0]["id"]


async def test_daily_sweep(agent: LocalRuntime) -> None:
    for task_id, deadline in [("t-late", 60), ("t-finished", 60), ("t-later", 3 * 86400)]:
        workflow_id = await start(agent, task_id, deadline_seconds=deadline)
        assert (await agent.workflows.result(workflow_id))["status"] == "completed"
    resp = await call(agent, "tasks/t-finished/complete")
    assert resp.status_code == 200
    assert await agent.state().get(INDEX_KEY) == ["t-late", "t-finished", "t-later"]

    await agent.advance(timedelta(days=1))  # reminders fire, then the daily job

    summary = await agent.state().get(SUMMARY_KEY)
    assert summary == {"counts": {"overdue": 1, "done": 1, "assigned": 1}, "overdue": ["t-late"]}
    assert await agent.state().get(INDEX_KEY) == ["t-late", "t-later"]  # done: forgotten
    late_timeline = [e["type"] for e in await agent.state().get(timeline_key("t-late"))]
    assert late_timeline[-1] == "task.escalated"
