"""task_processing: validate -> create -> assign -> set deadline -> notify, as a durable saga.

Each `yield` is a checkpoint recorded by the sidecar: if the process dies, the workflow replays
its history on restart and carries on from the first step that had not finished. Workflow code
must be deterministic (no clock, no I/O): everything else happens in `activities`.

When notifying the assignee still fails after its retries, the steps already taken are undone
in reverse order (clear the deadline, unassign: the task is `pending` again) and the workflow
returns a `failed` result naming the cause.

When the request names an `owner`, the outcome is also sent to them by the notification-service
app: its `notify_owner` activity runs there, in the other app's worker
(`call_activity(..., app_id=NOTIFICATION_SERVICE)`); until that app runs, the workflow waits.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

from dapr.ext.workflow import DaprWorkflowContext, RetryPolicy, TaskFailedError

from funchost import workflow

from .activities import (
    announce_result,
    assign_task,
    clear_deadline,
    create_task,
    notify_assignee,
    set_deadline,
    unassign_task,
    validate_task,
)
from .models import Notification, ProcessingResult, Task, TaskRequest, Validation

# 3 attempts in all: the first, then retries after 1 s and 2 s.
NOTIFY_RETRY = RetryPolicy(
    first_retry_interval=timedelta(seconds=1),
    max_number_of_attempts=3,
    backoff_coefficient=2.0,
)

Steps = Generator[Any, Any, ProcessingResult]

#: the agent's second app (../notification-service): its activity runs in its own worker
NOTIFICATION_SERVICE = "notification-service"


@workflow
def task_processing(ctx: DaprWorkflowContext, request: TaskRequest) -> Steps:
    """Process one task; the result's status is `completed`, `rejected` or `failed`."""
    ctx.set_custom_status("validating")
    validation = Validation.model_validate((yield ctx.call_activity(validate_task, input=request)))
    if validation.is_valid:
        result = yield from _create_assign_notify(ctx, request)
    else:
        result = ProcessingResult(
            task_id=request.task_id,
            status="rejected",
            message="validation failed: " + "; ".join(validation.issues),
            issues=validation.issues,
        )
    ctx.set_custom_status(result.status)
    yield ctx.call_activity(announce_result, input=result)
    if request.owner:
        notice = {
            "task_id": result.task_id,
            "user_id": request.owner,
            "message": f"task {request.title!r}: {result.status} ({result.message})",
            "event": f"task.{result.status}",
        }
        yield ctx.call_activity("notify_owner", input=notice, app_id=NOTIFICATION_SERVICE)
    return result


def _create_assign_notify(ctx: DaprWorkflowContext, request: TaskRequest) -> Steps:
    """The saga: each step that changes something registers the activity that undoes it."""
    compensations = []
    try:
        ctx.set_custom_status("creating")
        yield ctx.call_activity(create_task, input=request)
        ctx.set_custom_status("assigning")
        yield ctx.call_activity(assign_task, input=request)
        compensations.append(unassign_task)
        task = Task.model_validate((yield ctx.call_activity(set_deadline, input=request)))
        compensations.append(clear_deadline)
        if request.notify_delay_seconds:
            ctx.set_custom_status("waiting to notify")
            yield ctx.create_timer(timedelta(seconds=request.notify_delay_seconds))
        ctx.set_custom_status("notifying")
        notification = Notification(
            task_id=task.task_id,
            assignee=request.assignee,
            title=task.title,
            deadline=task.deadline,
        )
        yield ctx.call_activity(notify_assignee, input=notification, retry_policy=NOTIFY_RETRY)
    except TaskFailedError as error:
        ctx.set_custom_status("compensating")
        undone = []
        for undo in reversed(compensations):
            try:
                yield ctx.call_activity(undo, input=request.task_id)
                undone.append(undo.__name__)
            except TaskFailedError as undo_error:  # best effort: carry on undoing the rest
                undone.append(f"{undo.__name__} (failed: {undo_error.details.message})")
        return ProcessingResult(
            task_id=request.task_id,
            status="failed",
            message=f"{error.details.message} (undone: {', '.join(undone) or 'nothing'})",
        )
    return ProcessingResult(
        task_id=request.task_id,
        status="completed",
        message=f"assigned to {request.assignee}; deadline reminder set",
    )
