"""The task agent's deadline reminder, tested as a user would with the plugin's fixture."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from funchost.testing import LocalRuntime

pytestmark = [pytest.mark.e2e, pytest.mark.funchost(path="../../functions")]


async def test_deadline_reminder_marks_the_task_overdue(funchost_runtime: LocalRuntime) -> None:
    # discovery imported the agent's package; the test borrows its actor interface
    agent = importlib.import_module("functions.task_actor")
    models = importlib.import_module("functions.models")
    task = funchost_runtime.actor("TaskActor", "t1", agent.TaskActorInterface)
    await task.CreateTask(models.NewTask(title="write the docs"))
    await task.SetDeadline(3600)
    await funchost_runtime.advance(timedelta(minutes=59))
    assert (await task.GetTask()).status == "pending"
    await funchost_runtime.advance(timedelta(minutes=1))
    assert (await task.GetTask()).status == "overdue"
