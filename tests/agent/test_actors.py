"""Capstone criteria 1-3: TaskActor state across deactivation, the deadline reminder, and the
ChatActor's bounded history whose events reach the analytics subscription."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dapr.actor.runtime.runtime import ActorRuntime

from funchost.testing import LocalRuntime
from functions.chat_actor import MAX_EXCHANGES, ChatActorInterface
from functions.events import ANALYTICS_KEY
from functions.models import Assignment, Conversation, NewTask, Task
from functions.task_actor import TaskActorInterface

from ._support import call, call_app

pytestmark = pytest.mark.e2e


async def create(task: Any, title: str, description: str) -> Task:
    created: Task = await task.CreateTask(NewTask(title=title, description=description))
    return created


async def read(task: Any) -> Task:
    found: Task = await task.GetTask()
    return found


def active_actor_ids(actor_type: str) -> set[str]:
    """Ids of the actor objects alive in the app (white-box: proves a real deactivation)."""
    manager = ActorRuntime._actor_managers[actor_type]
    return set(manager._active_actors)


async def test_task_state_survives_deactivation_and_restart(agent: LocalRuntime) -> None:
    task = agent.actor("TaskActor", "t-persist", TaskActorInterface)
    created = await create(task, "2025-01-15: review PR #42", "1h of reading")
    await task.AssignTask(Assignment(assignee="alice@example.com"))
    assert "t-persist" in active_actor_ids("TaskActor")

    await agent.advance(timedelta(hours=2))  # past the 1 h idle timeout: deactivated
    assert "t-persist" not in active_actor_ids("TaskActor")

    reloaded = await read(task)  # reactivated from the state store
    assert reloaded.title == "2025-01-15: review PR #42"  # user text kept verbatim
    assert reloaded.description == "1h of reading"
    assert reloaded.status == "assigned"
    assert reloaded.assignee == "alice@example.com"
    assert reloaded.created_at == created.created_at

    await agent.crash_and_restart()
    after_crash = await read(agent.actor("TaskActor", "t-persist", TaskActorInterface))
    assert after_crash == reloaded


async def test_deadline_reminder_marks_task_overdue(agent: LocalRuntime) -> None:
    task = agent.actor("TaskActor", "t-late", TaskActorInterface)
    await create(task, "Ship the release", "tag and publish")
    await task.AssignTask(Assignment(assignee="bob@example.com"))
    await task.SetDeadline(60)

    await agent.advance(timedelta(seconds=59))
    assert (await read(task)).status == "assigned"

    await agent.advance(timedelta(seconds=2))
    assert (await read(task)).status == "overdue"


async def test_reminder_survives_a_crash(agent: LocalRuntime) -> None:
    task = agent.actor("TaskActor", "t-crash", TaskActorInterface)
    await create(task, "Renew certificates", "before expiry")
    await task.SetDeadline(3600)

    await agent.crash_and_restart()
    await agent.advance(timedelta(hours=1, seconds=1))
    task = agent.actor("TaskActor", "t-crash", TaskActorInterface)
    assert (await read(task)).status == "overdue"


async def test_done_task_is_never_overdue(agent: LocalRuntime) -> None:
    task = agent.actor("TaskActor", "t-done", TaskActorInterface)
    await create(task, "Write the changelog", "for 1.0")
    await task.SetDeadline(60)
    await task.UpdateStatus("done")

    await agent.advance(timedelta(minutes=5))
    assert (await read(task)).status == "done"


async def test_chat_history_is_bounded_and_events_reach_the_subscription(
    agent: LocalRuntime,
) -> None:
    for i in range(12):
        resp = await call_app(agent, "chat/alice", json={"content": f"message {i} about my task"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["role"] == "assistant"
        # the count goes on past the 10 exchanges kept (it used to stall at 11)
        assert f"This is message {i + 1} of our conversation." in resp.json()["content"]
        assert resp.json()["exchange"] == i + 1
    await call(agent, "chat/bob", json={"content": "help"})

    resp = await call(agent, "chat/alice/history", method="GET")
    messages = resp.json()["messages"]
    assert len(messages) == 2 * MAX_EXCHANGES
    assert messages[0] == {**messages[0], "role": "user", "content": "message 2 about my task"}
    assert messages[-1]["role"] == "assistant"
    assert messages[-1]["content"].startswith("I can help with tasks")

    bob = agent.actor("ChatActor", "bob", ChatActorInterface)
    history: Conversation = await bob.GetHistory()
    assert [m.role for m in history.messages] == ["user", "assistant"]

    await agent.idle()  # every conversation.updated event delivered
    assert await agent.state().get(ANALYTICS_KEY) == {
        "exchanges": 13,
        "users": {"alice": 12, "bob": 1},
    }


async def test_user_text_that_looks_like_dates_or_durations_is_kept(agent: LocalRuntime) -> None:
    texts = ["2025-01-15 standup notes", "1h", "30m", "2025/01/15"]
    for text in texts:
        resp = await call(agent, "chat/carol", json={"content": text})
        assert resp.status_code == 200, resp.text
    resp = await call(agent, "chat/carol/history", method="GET")
    questions = [m["content"] for m in resp.json()["messages"] if m["role"] == "user"]
    assert questions == texts


async def test_task_state_saved_as_a_json_string_by_earlier_versions_still_loads(
    agent: LocalRuntime,
) -> None:
    legacy = Task(
        task_id="t-legacy",
        title="2024-01-01 standup",
        description="1h",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        updated_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    ops = [{"operation": "upsert", "request": {"key": "task", "value": legacy.model_dump_json()}}]
    async with httpx.AsyncClient() as client:
        resp = await client.put(f"{agent.http_url}/v1.0/actors/TaskActor/t-legacy/state", json=ops)
        assert resp.status_code == 204, resp.text
    task = agent.actor("TaskActor", "t-legacy", TaskActorInterface)
    assert await read(task) == legacy
    await task.UpdateStatus("done")  # saved back as a JSON object
    assert (await agent.actor_state("TaskActor", "t-legacy", "task"))["status"] == "done"
