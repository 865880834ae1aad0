"""The task_processing saga: completion, compensation after failed notifications (criterion 5),
validation rejection, termination, and recovery from a crash mid-workflow."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from funchost.testing import LocalRuntime

from ._support import NotificationServer, call, get_task, start, timeline

pytestmark = pytest.mark.e2e


async def test_workflow_assigns_sets_deadline_and_notifies(
    agent: LocalRuntime, outbox_dir: Path
) -> None:
    workflow_id = await start(agent, "t-ok")

    result = await agent.workflows.result(workflow_id)
    assert result["status"] == "completed"
    task = await get_task(agent, "t-ok")
    assert task["status"] == "assigned"
    assert task["assignee"] == "alice@example.com"
    assert task["deadline"] is not None

    notification = json.loads((outbox_dir / "t-ok.json").read_text())
    assert notification["assignee"] == "alice@example.com"
    assert notification["title"] == "Review PR #42"

    resp = await call(agent, f"workflows/{workflow_id}", method="GET")
    assert resp.json()["status"] == "COMPLETED"
    assert resp.json()["custom_status"] == "completed"
    assert resp.json()["output"] == result

    assert await timeline(agent, "t-ok") == [
        "task.created",
        "task.assigned",
        "task.deadline_set",
        "task.notified",
        "task.completed",
    ]

    await agent.advance(timedelta(hours=1, seconds=1))  # the reminder the workflow set
    assert (await get_task(agent, "t-ok"))["status"] == "overdue"


async def test_failed_notification_is_compensated(
    failing_agent: LocalRuntime, refusing_server: NotificationServer
) -> None:
    agent = failing_agent
    workflow_id = await start(agent, "t-saga", assignee="bob@example.com")
    await agent.idle()
    assert len(refusing_server.bodies) == 1  # first attempt failed; retry timer pending

    await agent.advance(timedelta(seconds=1))  # retry 1 after 1 s
    assert len(refusing_server.bodies) == 2
    await agent.advance(timedelta(seconds=2))  # retry 2 after 2 s more (back-off x2)
    assert len(refusing_server.bodies) == 3

    result = await agent.workflows.result(workflow_id)
    assert result["status"] == "failed"
    assert "notifications" in result["message"] and "bob@example.com" in result["message"]
    assert "unassign_task" in result["message"] and "clear_deadline" in result["message"]

    task = await get_task(agent, "t-saga")
    assert task["status"] == "pending"
    assert task["assignee"] is None
    assert task["deadline"] is None

    await agent.advance(timedelta(hours=2))  # the deadline reminder was cancelled too
    assert len(refusing_server.bodies) == 3
    assert (await get_task(agent, "t-saga"))["status"] == "pending"
    assert await timeline(agent, "t-saga") == [
        "task.created",
        "task.assigned",
        "task.deadline_set",
        "task.deadline_cleared",
        "task.unassigned",
        "task.failed",
    ]


async def test_invalid_task_is_rejected_with_its_issues(agent: LocalRuntime) -> None:
    workflow_id = await start(agent, "t-bad", title="Fix", description="short", assignee="bob")

    result = await agent.workflows.result(workflow_id)
    assert result["status"] == "rejected"
    assert result["issues"] == [
        "title must be at least 5 characters",
        "description must be at least 10 characters",
        "assignee must be an email address",
    ]
    resp = await call(agent, "tasks/t-bad", method="GET")
    assert resp.status_code == 404  # nothing was created
    assert await timeline(agent, "t-bad") == ["task.rejected"]


async def test_terminate_a_waiting_workflow(agent: LocalRuntime, outbox_dir: Path) -> None:
    workflow_id = await start(agent, "t-stop", notify_delay_seconds=600)
    await agent.idle()
    status = (await call(agent, f"workflows/{workflow_id}", method="GET")).json()
    assert status["status"] == "RUNNING"
    assert status["custom_status"] == "waiting to notify"

    resp = await call(agent, f"workflows/{workflow_id}", method="DELETE")
    assert resp.status_code == 200, resp.text
    state = await agent.workflows.wait(workflow_id)
    assert state.runtime_status.name == "TERMINATED"

    await agent.advance(timedelta(minutes=15))
    assert not (outbox_dir / "t-stop.json").exists()  # the timer died with the workflow


async def test_workflow_resumes_after_a_crash(agent: LocalRuntime, outbox_dir: Path) -> None:
    workflow_id = await start(agent, "t-resume", notify_delay_seconds=300)
    await agent.idle()  # assigned, deadline set, now waiting on the durable timer
    assert (await get_task(agent, "t-resume"))["status"] == "assigned"

    await agent.crash_and_restart()
    await agent.advance(timedelta(minutes=5))

    result = await agent.workflows.result(workflow_id)
    assert result["status"] == "completed"
    assert (outbox_dir / "t-resume.json").exists()
