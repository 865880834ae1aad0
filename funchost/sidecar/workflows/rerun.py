"""`RerunWorkflowFromEvent` (daprd 1.15+): a new instance replays a finished one up to an event.

Port of daprd's fork (`pkg/actors/targets/workflow/orchestrator/fork/fork.go`, `rerun.go`). The
source's history is copied up to the target event; an activity, timer or child workflow scheduled
before it is kept only together with its result (so unfinished ones run again). The target event
(an activity's `taskScheduled`, a `timerCreated` or a `childWorkflowInstanceCreated`) and the
unfinished ones are appended to the new history and run again: activities are dispatched,
timers fire at once, children start under new ids (`<newInstanceID>:<eventId %04x>`). The worker
then replays the copied history and carries on from there. The source instance is untouched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from google.protobuf import wrappers_pb2

from ._pb import RUNNING, event, pb, started_event, sv
from .engine import Engine, WorkflowError
from .state import Instance

_RERUNNABLE = ("taskScheduled", "timerCreated", "childWorkflowInstanceCreated")


@dataclass
class Fork:
    """The new instance's history and what it runs again."""

    history: list[pb.HistoryEvent] = field(default_factory=list)
    activities: list[pb.HistoryEvent] = field(default_factory=list)
    timers: list[pb.HistoryEvent] = field(default_factory=list)
    children: list[pb.HistoryEvent] = field(default_factory=list)


def fork_history(
    history: list[pb.HistoryEvent],
    event_id: int,
    new_instance_id: str,
    new_execution_id: str,
    *,
    overwrite_input: bool = False,
    input: wrappers_pb2.StringValue | None = None,
    new_child_instance_id: str | None = None,
) -> Fork:
    """Fork `history` at the event with id `event_id` (WorkflowError with daprd's codes)."""
    fork = Fork()
    pending: dict[tuple[str, int], pb.HistoryEvent] = {}
    target: pb.HistoryEvent | None = None
    for ev in history:
        if ev.eventId == event_id:
            target = _copy(ev)
            break
        kind = ev.WhichOneof("eventType")
        if kind in _RERUNNABLE:
            pending[(kind, ev.eventId)] = ev
        elif (key := _completes(ev)) is not None:
            if key in pending:
                fork.history.append(pending.pop(key))
            fork.history.append(ev)
        elif kind == "executionStarted":
            started = _copy(ev)
            inst = started.executionStarted.workflowInstance
            inst.instanceId = new_instance_id
            inst.executionId.CopyFrom(sv(new_execution_id))
            fork.history.append(started)
        else:
            fork.history.append(ev)
    if target is None:
        raise WorkflowError("not_found", f"does not have history event with ID '{event_id}'")
    kind = target.WhichOneof("eventType")
    if kind == "detachedWorkflowInstanceCreated":
        raise WorkflowError(
            "invalid",
            f"event '{event_id}' created a detached workflow, which cannot be rerun from: "
            "rerun the detached instance itself",
        )
    if kind not in _RERUNNABLE:
        raise WorkflowError(
            "not_found",
            f"target event '{kind}' with ID '{event_id}' is not an event that can be rerun",
        )
    if kind == "timerCreated" and overwrite_input:
        raise WorkflowError("invalid", f"cannot write input to timer event '{event_id}'")
    if new_child_instance_id and kind != "childWorkflowInstanceCreated":
        raise WorkflowError(
            "invalid",
            f"event '{event_id}' is not a child workflow: newChildWorkflowInstanceID is only "
            "accepted with a childWorkflowInstanceCreated event",
        )
    if overwrite_input:
        body = getattr(target, kind)
        if input is None:
            body.ClearField("input")
        else:
            body.input.CopyFrom(input)
    reruns = [target, *(_copy(ev) for ev in pending.values())]
    for ev in reruns:
        which = ev.WhichOneof("eventType")
        if which == "childWorkflowInstanceCreated":
            child_id = f"{new_instance_id}:{ev.eventId:04x}"
            if ev is target and new_child_instance_id:
                child_id = new_child_instance_id
            ev.childWorkflowInstanceCreated.instanceId = child_id
            fork.children.append(ev)
        elif which == "timerCreated":
            fork.timers.append(ev)
        else:
            fork.activities.append(ev)
        fork.history.append(ev)
    return fork


def rerun(engine: Engine, req: pb.RerunWorkflowFromEventRequest) -> str:
    """Validate `req` as daprd does, create the new instance and start what it reruns."""
    source_id = req.sourceInstanceID
    if not source_id:
        raise WorkflowError("invalid", "rerun workflow source instance ID is required")
    new_id = req.newInstanceID if req.HasField("newInstanceID") else ""
    new_id = new_id or uuid.uuid4().hex
    if new_id == source_id:
        raise WorkflowError(
            "invalid", "rerun workflow instance ID must be different from the original instance ID"
        )
    source = engine.get(source_id)  # finished instances are read from the store
    if source is None:
        raise WorkflowError("not_found", f"workflow instance does not exist with ID '{source_id}'")
    if not source.terminal:
        raise WorkflowError("invalid", f"'{source_id}' is not in a terminal state")
    if source.parent_id:
        raise WorkflowError("invalid", f"'{source_id}': cannot rerun from child-workflows")
    if engine.get(new_id) is not None:
        raise WorkflowError("already_exists", f"workflow '{new_id}' has already been created")
    exec_id = uuid.uuid4().hex
    child_id = (
        req.newChildWorkflowInstanceID if req.HasField("newChildWorkflowInstanceID") else None
    )
    fork = fork_history(
        engine.history(source_id),
        req.eventID,
        new_id,
        exec_id,
        overwrite_input=req.overwriteInput,
        input=req.input if req.HasField("input") else None,
        new_child_instance_id=child_id,
    )
    now = engine.clock.time()
    inst = Instance(new_id, source.name, exec_id, RUNNING, now, now, input=source.input)
    start = started_event(fork.history)
    trace = start.parentTraceContext if start and start.HasField("parentTraceContext") else None
    activities = []
    for ev in fork.activities:
        s = ev.taskScheduled
        activities.append(
            pb.ActivityRequest(
                name=s.name,
                version=s.version if s.HasField("version") else None,
                input=s.input if s.HasField("input") else None,
                workflowInstance=pb.WorkflowInstance(instanceId=new_id, executionId=sv(exec_id)),
                taskId=ev.eventId,
                taskExecutionId=s.taskExecutionId,
                parentTraceContext=trace,
            )
        )
    fired = [
        event(now, timerFired=pb.TimerFiredEvent(timerId=ev.eventId, fireAt=ev.timerCreated.fireAt))
        for ev in fork.timers
    ]
    children = [
        (
            ev.eventId,
            ev.childWorkflowInstanceCreated.instanceId,
            ev.childWorkflowInstanceCreated.name,
            ev.childWorkflowInstanceCreated.input.value
            if ev.childWorkflowInstanceCreated.HasField("input")
            else None,
        )
        for ev in fork.children
    ]
    engine.create_forked(inst, fork.history, activities, fired, children, trace)
    return new_id


def _completes(ev: pb.HistoryEvent) -> tuple[str, int] | None:
    kind = ev.WhichOneof("eventType")
    if kind == "taskCompleted":
        return ("taskScheduled", ev.taskCompleted.taskScheduledId)
    if kind == "taskFailed":
        return ("taskScheduled", ev.taskFailed.taskScheduledId)
    if kind == "timerFired":
        return ("timerCreated", ev.timerFired.timerId)
    if kind == "childWorkflowInstanceCompleted":
        return ("childWorkflowInstanceCreated", ev.childWorkflowInstanceCompleted.taskScheduledId)
    if kind == "childWorkflowInstanceFailed":
        return ("childWorkflowInstanceCreated", ev.childWorkflowInstanceFailed.taskScheduledId)
    return None


def _copy(ev: pb.HistoryEvent) -> pb.HistoryEvent:
    out = pb.HistoryEvent()
    out.CopyFrom(ev)
    return out
