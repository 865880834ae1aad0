"""TaskActor: one virtual actor per task, holding its state and its deadline reminder.

Dapr runs one call at a time per actor id (turn-based concurrency), so these methods read,
change and save the task without locks. State lives in the actor state store, so it survives
deactivation and restarts; the deadline reminder is persisted by the sidecar too.

Methods take and return the pydantic models of models.py: funchost's actor serializer writes
them as JSON objects and validates them back from the interface's annotations, and keeps user
text that looks like a date or a duration ("2025-01-15 review", "1h") as text. (No
`from __future__ import annotations` here: the SDK reads the annotations as classes.)
"""

import logging
from datetime import UTC, datetime, timedelta

from dapr.actor import Actor, ActorInterface, Remindable, actormethod

from funchost import actor

from .models import Assignment, NewTask, Task, TaskStatus

DEADLINE_REMINDER = "deadline"
log = logging.getLogger(__name__)
_STATE_KEY = "task"


class TaskActorInterface(ActorInterface):
    """What callers may ask a task: `NewTask`/`Assignment` in, `Task` out."""

    @actormethod(name="CreateTask")
    async def create_task(self, new_task: NewTask) -> Task: ...

    @actormethod(name="GetTask")
    async def get_task(self) -> Task | None: ...

    @actormethod(name="UpdateStatus")
    async def update_status(self, status: str) -> Task: ...

    @actormethod(name="AssignTask")
    async def assign_task(self, assignment: Assignment) -> Task: ...

    @actormethod(name="UnassignTask")
    async def unassign_task(self) -> Task: ...

    @actormethod(name="SetDeadline")
    async def set_deadline(self, seconds: int) -> Task: ...

    @actormethod(name="ClearDeadline")
    async def clear_deadline(self) -> Task: ...


@actor(idle_timeout="1h")
class TaskActor(Actor, TaskActorInterface, Remindable):
    """A task: pending -> assigned -> done, or overdue when its deadline reminder fires first."""

    async def create_task(self, new_task: NewTask) -> Task:
        """Create the task; calling it again returns the existing task (safe to retry)."""
        existing = await self._load()
        if existing is not None:
            return existing
        now = _now()
        task = Task(
            task_id=self.id.id,
            title=new_task.title,
            description=new_task.description,
            created_at=now,
            updated_at=now,
        )
        return await self._save(task)

    async def get_task(self) -> Task | None:
        return await self._load()

    async def update_status(self, status: str) -> Task:
        task = await self._require()
        task.status = TaskStatus(status)
        if task.status is TaskStatus.DONE:
            await self._cancel_reminder()
        return await self._save(task)

    async def assign_task(self, assignment: Assignment) -> Task:
        task = await self._require()
        task.assignee = assignment.assignee
        task.status = TaskStatus.ASSIGNED
        return await self._save(task)

    async def unassign_task(self) -> Task:
        """Saga compensation for `assign_task`: no assignee, back to `pending`."""
        task = await self._require()
        task.assignee = None
        task.status = TaskStatus.PENDING
        return await self._save(task)

    async def set_deadline(self, seconds: int) -> Task:
        """Record the deadline and register a one-shot reminder that fires when it passes."""
        task = await self._require()
        task.deadline = _now() + timedelta(seconds=seconds)
        await self.register_reminder(
            DEADLINE_REMINDER, b"mark_overdue", due_time=timedelta(seconds=seconds), period=None
        )
        return await self._save(task)

    async def clear_deadline(self) -> Task:
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
            log.info("task %s is overdue (deadline %s)", task.task_id, task.deadline)
            task.status = TaskStatus.OVERDUE
            await self._save(task)

    async def _load(self) -> Task | None:
        found, document = await self._state_manager.try_get_state(_STATE_KEY)
        if not found:
            return None
        if isinstance(document, str):  # saved by an earlier version, as a JSON string
            return Task.model_validate_json(document)
        return Task.model_validate(document)

    async def _require(self) -> Task:
        task = await self._load()
        if task is None:
            raise LookupError(f"TaskActor {self.id.id}: no such task; call CreateTask first")
        return task

    async def _save(self, task: Task) -> Task:
        task.updated_at = _now()
        await self._state_manager.set_state(_STATE_KEY, task)  # saved when the turn ends
        return task

    async def _cancel_reminder(self) -> None:
        # Unregistering a reminder that does not exist is not an error in Dapr.
        await self.unregister_reminder(DEADLINE_REMINDER)


def _now() -> datetime:
    return datetime.now(UTC)
