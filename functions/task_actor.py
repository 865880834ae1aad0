"""TaskActor: one virtual actor per task, holding its state and its deadline reminder.

Dapr runs one call at a time per actor id (turn-based concurrency), so these methods read,
change and save the task without locks. State lives in the actor state store, so it survives
deactivation and restarts; the deadline reminder is persisted by the sidecar too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dapr.actor import Actor, ActorInterface, Remindable, actormethod

from funchost import actor

from .models import Task, TaskStatus

DEADLINE_REMINDER = "deadline"
_STATE_KEY = "task"


class TaskActorInterface(ActorInterface):
    """What callers (activities, HTTP handlers, the sweep) may ask a task."""

    @actormethod(name="CreateTask")
    async def create_task(self, data: dict[str, Any]) -> dict[str, Any]: ...

    @actormethod(name="GetTask")
    async def get_task(self) -> dict[str, Any] | None: ...

    @actormethod(name="UpdateStatus")
    async def update_status(self, status: str) -> dict[str, Any]: ...

    @actormethod(name="AssignTask")
    async def assign_task(self, assignee: str) -> dict[str, Any]: ...

    @actormethod(name="UnassignTask")
    async def unassign_task(self) -> dict[str, Any]: ...

    @actormethod(name="SetDeadline")
    async def set_deadline(self, seconds: int) -> dict[str, Any]: ...

    @actormethod(name="ClearDeadline")
    async def clear_deadline(self) -> dict[str, Any]: ...


@actor(idle_timeout="1h")
class TaskActor(Actor, TaskActorInterface, Remindable):
    """A task: pending -> assigned -> done, or overdue when its deadline reminder fires first."""

    async def create_task(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create the task; calling it again returns the existing task (safe to retry)."""
        existing = await self._load()
        if existing is not None:
            return _dump(existing)
        now = _now()
        task = Task(
            task_id=self.id.id,
            title=data["title"],
            description=data.get("description", ""),
            created_at=now,
            updated_at=now,
        )
        return await self._save(task)

    async def get_task(self) -> dict[str, Any] | None:
        task = await self._load()
        return None if task is None else _dump(task)

    async def update_status(self, status: str) -> dict[str, Any]:
        task = await self._require()
        task.status = TaskStatus(status)
        if task.status is TaskStatus.DONE:
            await self._cancel_reminder()
        return await self._save(task)

    async def assign_task(self, assignee: str) -> dict[str, Any]:
        task = await self._require()
        task.assignee = assignee
        task.status = TaskStatus.ASSIGNED
        return await self._save(task)

    async def unassign_task(self) -> dict[str, Any]:
        """Saga compensation for `assign_task`: no assignee, back to `pending`."""
        task = await self._require()
        task.assignee = None
        task.status = TaskStatus.PENDING
        return await self._save(task)

    async def set_deadline(self, seconds: int) -> dict[str, Any]:
        """Record the deadline and register a one-shot reminder that fires when it passes."""
        task = await self._require()
        task.deadline = _now() + timedelta(seconds=seconds)
        await self.register_reminder(
            DEADLINE_REMINDER, b"mark_overdue", due_time=timedelta(seconds=seconds), period=None
        )
        return await self._save(task)

    async def clear_deadline(self) -> dict[str, Any]:
        """Saga compensation for `set_deadline`: forget the deadline and its reminder."""
        task = await self._require()
        task.deadline = None
        await self._cancel_reminder()
        return await self._save(task)

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        """The deadline passed: a task that is not done yet becomes `overdue`."""
        if name != DEADLINE_REMINDER:
            return
        task = await self._load()
        if task is not None and task.status is not TaskStatus.DONE:
            task.status = TaskStatus.OVERDUE
            await self._save(task)

    async def _load(self) -> Task | None:
        found, value = await self._state_manager.try_get_state(_STATE_KEY)
        return Task.model_validate(value) if found else None

    async def _require(self) -> Task:
        task = await self._load()
        if task is None:
            raise LookupError(f"TaskActor {self.id.id}: no such task; call CreateTask first")
        return task

    async def _save(self, task: Task) -> dict[str, Any]:
        task.updated_at = _now()
        data = _dump(task)
        await self._state_manager.set_state(_STATE_KEY, data)  # saved when the turn ends
        return data

    async def _cancel_reminder(self) -> None:
        # Unregistering a reminder that does not exist is not an error in Dapr.
        await self.unregister_reminder(DEADLINE_REMINDER)


def _now() -> datetime:
    return datetime.now(UTC)


def _dump(task: Task) -> dict[str, Any]:
    return task.model_dump(mode="json")
