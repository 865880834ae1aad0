"""The steps of `task_processing`: each activity does one thing and announces it on `task-events`.

Activities are where side effects live (actor calls, bindings, publishing); the workflow only
decides what runs next. An activity may run more than once (retries, a crash before its result
was recorded), so each one is safe to repeat: creating an existing task returns it, assigning
twice assigns the same person.
"""

from __future__ import annotations

from typing import Any

import grpc
from dapr.actor import ActorProxy
from dapr.aio.clients import DaprClient
from dapr.ext.workflow import WorkflowActivityContext

from funchost import activity, actor_proxy

from ._publish import publish
from .models import (
    NOTIFICATIONS,
    TASK_EVENTS,
    Assignment,
    NewTask,
    Notification,
    ProcessingResult,
    Task,
    TaskEvent,
    TaskRequest,
    Validation,
)
from .task_actor import TaskActorInterface


class NotificationError(Exception):
    """The `notifications` binding refused a message."""


@activity
def validate_task(ctx: WorkflowActivityContext, request: TaskRequest) -> Validation:
    """Business rules a task must meet before anything is created."""
    issues = []
    if len(request.title.strip()) < 5:
        issues.append("title must be at least 5 characters")
    if len(request.description.strip()) < 10:
        issues.append("description must be at least 10 characters")
    if "@" not in request.assignee:
        issues.append("assignee must be an email address")
    return Validation(is_valid=not issues, issues=issues)


@activity
async def create_task(ctx: WorkflowActivityContext, request: TaskRequest) -> Task:
    new_task = NewTask(title=request.title, description=request.description)
    proxy = task_proxy(request.task_id)
    task: Task = await proxy.CreateTask(new_task)
    await publish_task_event(ctx, TaskEvent(type="task.created", task_id=task.task_id))
    return task


@activity
async def assign_task(ctx: WorkflowActivityContext, request: TaskRequest) -> Task:
    assignment = Assignment(assignee=request.assignee)
    proxy = task_proxy(request.task_id)
    task: Task = await proxy.AssignTask(assignment)
    await publish_task_event(
        ctx, TaskEvent(type="task.assigned", task_id=task.task_id, detail={"to": task.assignee})
    )
    return task


@activity
async def set_deadline(ctx: WorkflowActivityContext, request: TaskRequest) -> Task:
    proxy = task_proxy(request.task_id)
    task: Task = await proxy.SetDeadline(request.deadline_seconds)
    await publish_task_event(
        ctx,
        TaskEvent(
            type="task.deadline_set",
            task_id=task.task_id,
            detail={"deadline": task.deadline.isoformat() if task.deadline else None},
        ),
    )
    return task


@activity
async def notify_assignee(
    ctx: WorkflowActivityContext, notification: Notification
) -> dict[str, Any]:
    """Send the assignment through the `notifications` output binding (file, HTTP, email...)."""
    async with DaprClient() as client:
        try:
            response = await client.invoke_binding(
                NOTIFICATIONS,
                "create",
                data=notification.model_dump_json(),
                binding_metadata={"fileName": f"{notification.task_id}.json"},
            )
        except grpc.RpcError as error:
            raise NotificationError(
                f"binding '{NOTIFICATIONS}' could not notify {notification.assignee} "
                f"about task {notification.task_id}: {error.details()}"  # type: ignore[attr-defined]
            ) from error
    await publish_task_event(
        ctx,
        TaskEvent(
            type="task.notified", task_id=notification.task_id, detail=response.binding_metadata
        ),
    )
    return {"notified": notification.assignee}


@activity
async def unassign_task(ctx: WorkflowActivityContext, task_id: str) -> Task:
    """Compensation for `assign_task`."""
    task: Task = await task_proxy(task_id).UnassignTask()
    await publish_task_event(ctx, TaskEvent(type="task.unassigned", task_id=task_id))
    return task


@activity
async def clear_deadline(ctx: WorkflowActivityContext, task_id: str) -> Task:
    """Compensation for `set_deadline`."""
    task: Task = await task_proxy(task_id).ClearDeadline()
    await publish_task_event(ctx, TaskEvent(type="task.deadline_cleared", task_id=task_id))
    return task


@activity
async def announce_result(ctx: WorkflowActivityContext, result: ProcessingResult) -> None:
    """Publish the workflow's outcome: task.completed, task.rejected or task.failed."""
    await publish_task_event(
        ctx,
        TaskEvent(
            type=f"task.{result.status}",
            task_id=result.task_id,
            detail={"message": result.message, "issues": result.issues},
        ),
    )


def task_proxy(task_id: str) -> ActorProxy:
    """A proxy to the TaskActor `task_id`; call it by the interface's names (`CreateTask`...)."""
    return actor_proxy("TaskActor", task_id, TaskActorInterface)


async def publish_task_event(ctx: WorkflowActivityContext, event: TaskEvent) -> None:
    """Publish `event` on `task-events`, stamped with the id of the workflow publishing it."""
    await publish(TASK_EVENTS, event.model_copy(update={"workflow_id": ctx.workflow_id}))
