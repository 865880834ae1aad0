"""The task agent's HTTP API: service-invocation methods, also plain HTTP on the app port.

    POST   /tasks/process            start processing a task (409 if the id was used)
    GET    /tasks/{task_id}          the task, from its TaskActor (404 if unknown)
    GET    /tasks/{task_id}/events   what happened to it (its `task-events`, in order)
    POST   /tasks/{task_id}/complete mark it done (its deadline reminder is cancelled; the owner
                                     is told through the notification-service app)
    GET    /workflows/{workflow_id}  status, custom status and result of a workflow
    DELETE /workflows/{workflow_id}  terminate a running workflow
    POST   /chat/{user_id}           talk to the user's ChatActor
    GET    /chat/{user_id}/history   the last 10 exchanges

Bodies are pydantic models, so a bad body is answered 422 with the offending fields. Every
error has Dapr's shape, `{"errorCode": "ERR_...", "message": "..."}` (the 422 adds `errors`):
404 `ERR_TASK_NOT_FOUND` / `ERR_TASK_EVENTS_NOT_FOUND` / `ERR_WORKFLOW_NOT_FOUND`, 409
`ERR_TASK_EXISTS`, 422 `ERR_INVALID_PAYLOAD`.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
from starlette.responses import JSONResponse

from funchost import FunctionContext, invoke

from . import task_index
from .chat_actor import ChatActor
from .events import timeline_key
from .models import (
    ChatEntry,
    ChatMessage,
    Conversation,
    Task,
    TaskRequest,
    TaskStatus,
    workflow_id_for,
)
from .task_actor import TaskActor
from .task_workflow import task_processing

#: the agent's second app (../notification-service), reached by app id
NOTIFICATION_SERVICE = "notification-service"


@invoke("tasks/process", methods=("POST",))
async def process_task(request: TaskRequest, ctx: FunctionContext) -> dict[str, str] | JSONResponse:
    """Start the `task_processing` workflow for a new task."""
    workflow_id = workflow_id_for(request.task_id)
    duplicate = _error(
        409, "ERR_TASK_EXISTS", f"task {request.task_id!r} already exists: use a new task_id"
    )
    if await ctx.workflows.get_workflow_state(workflow_id, fetch_payloads=False) is not None:
        return duplicate
    try:
        await ctx.start_workflow(task_processing, request, instance_id=workflow_id)
    except grpc.RpcError as error:  # a concurrent request started it first
        if error.code() == grpc.StatusCode.ALREADY_EXISTS:  # type: ignore[attr-defined]
            return duplicate
        raise
    await task_index.add(ctx, request.task_id)
    return {"task_id": request.task_id, "workflow_id": workflow_id, "status": "started"}


@invoke("tasks/{task_id}", methods=("GET",))
async def read_task(task_id: str, ctx: FunctionContext) -> Task | JSONResponse:
    return await _find_task(ctx, task_id) or _task_not_found(task_id)


@invoke("tasks/{task_id}/events", methods=("GET",))
async def task_timeline(task_id: str, ctx: FunctionContext) -> dict[str, Any] | JSONResponse:
    timeline = await ctx.get_state(timeline_key(task_id))
    if timeline is None:
        return _error(404, "ERR_TASK_EVENTS_NOT_FOUND", f"no events for task {task_id!r}")
    return {"task_id": task_id, "events": timeline}


@invoke("tasks/{task_id}/complete", methods=("POST",))
async def complete_task(task_id: str, ctx: FunctionContext) -> Task | JSONResponse:
    if await _find_task(ctx, task_id) is None:
        return _task_not_found(task_id)
    done: Task = await ctx.actor(TaskActor, task_id).UpdateStatus(TaskStatus.DONE.value)
    await _tell_owner(ctx, done)
    return done


async def _tell_owner(ctx: FunctionContext, task: Task) -> None:
    """Tell the task's owner through the notification-service app (service invocation by app
    id). Best effort: the agent also runs alone, so a failed call is logged, never raised."""
    notice = {
        "task_id": task.task_id,
        "user_id": task.assignee or "",
        "message": f"task {task.title!r} is done",
        "event": "task.completed",
    }
    try:
        await ctx.invoke_method(NOTIFICATION_SERVICE, "notify", notice)
    except Exception as exc:
        ctx.logger.warning(
            "could not notify the owner of %s via %s: %s", task.task_id, NOTIFICATION_SERVICE, exc
        )


@invoke("workflows/{workflow_id}", methods=("GET",))
async def read_workflow(workflow_id: str, ctx: FunctionContext) -> dict[str, Any] | JSONResponse:
    state = await ctx.workflows.get_workflow_state(workflow_id)
    if state is None:
        return _workflow_not_found(workflow_id)
    failure = state.failure_details
    return {
        "workflow_id": workflow_id,
        "status": state.runtime_status.name,
        "custom_status": state.serialized_custom_status,
        "output": _json(state.serialized_output),
        "error": failure.message if failure else None,
    }


@invoke("workflows/{workflow_id}", methods=("DELETE",))
async def terminate_workflow(
    workflow_id: str, ctx: FunctionContext
) -> dict[str, str] | JSONResponse:
    if await ctx.workflows.get_workflow_state(workflow_id, fetch_payloads=False) is None:
        return _workflow_not_found(workflow_id)
    await ctx.workflows.terminate_workflow(workflow_id)
    return {"workflow_id": workflow_id, "status": "terminating"}


@invoke("chat/{user_id}", methods=("POST",))
async def chat(user_id: str, message: ChatMessage, ctx: FunctionContext) -> ChatEntry:
    reply: ChatEntry = await ctx.actor(ChatActor, user_id).ProcessMessage(message)
    return reply


@invoke("chat/{user_id}/history", methods=("GET",))
async def chat_history(user_id: str, ctx: FunctionContext) -> dict[str, Any]:
    history: Conversation = await ctx.actor(ChatActor, user_id).GetHistory()
    return {"user_id": user_id, "messages": history.messages}


def _error(status: int, code: str, message: str) -> JSONResponse:
    """An error in Dapr's shape, as the 422 for a bad body (`funchost.wiring.invoke`)."""
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def _task_not_found(task_id: str) -> JSONResponse:
    return _error(404, "ERR_TASK_NOT_FOUND", f"task {task_id!r} not found")


def _workflow_not_found(workflow_id: str) -> JSONResponse:
    return _error(404, "ERR_WORKFLOW_NOT_FOUND", f"workflow {workflow_id!r} not found")


async def _find_task(ctx: FunctionContext, task_id: str) -> Task | None:
    found = await ctx.actor(TaskActor, task_id).GetTask()
    return None if found is None else Task.model_validate(found)


def _json(serialized: str | None) -> Any:
    return json.loads(serialized) if serialized else None
