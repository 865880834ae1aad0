"""The turn processor: a worker's actions -> history events, messages and work (pure logic).

Ports durabletask-go `runtimestate.ApplyActions`: `scheduleTask` -> `taskScheduled` + an
activity; `createTimer` -> `timerCreated` + a `timerFired` message visible at `fireAt`;
`createChildWorkflow` -> `childWorkflowInstanceCreated` + a new instance; `completeWorkflow` ->
`executionCompleted` (+ parent notification), or a history reset on continue-as-new. The result
is a `Plan` the backend commits in one transaction before anything is dispatched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ._pb import (
    COMPLETED,
    CONTINUED_AS_NEW,
    FAILED,
    FOREVER,
    RUNNING,
    STALLED,
    SUSPENDED,
    TERMINATED,
    event,
    failure,
    pb,
    started_event,
    sv,
    ts_seconds,
)
from .state import Instance


@dataclass
class Message:
    """An event for an instance's inbox (possibly this one), visible at `visible_at`."""

    target: str
    event: pb.HistoryEvent
    visible_at: float
    execution_id: str | None = None
    app: str | None = None  # the instance lives in another app's sidecar


@dataclass
class ChildStart:
    """A child instance created by this turn."""

    instance_id: str
    name: str
    input: str | None
    started: pb.HistoryEvent
    app: str | None = None  # created in another app's sidecar


@dataclass
class Plan:
    """Everything one turn changes; committed atomically by the backend."""

    append: list[pb.HistoryEvent] = field(default_factory=list)
    reset: list[pb.HistoryEvent] | None = None  # continue-as-new: new inbox front, history emptied
    execution_id: str | None = None
    messages: list[Message] = field(default_factory=list)
    activities: list[pb.ActivityRequest] = field(default_factory=list)
    remote_activities: list[tuple[str, pb.ActivityRequest]] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)
    status: int = RUNNING
    output: str | None = None
    input: str | None = None
    failure: bytes | None = None
    completed: bool = False
    custom_status: str | None = None
    custom_status_set: bool = False


def _opt(msg: object, name: str) -> str | None:
    return getattr(msg, name).value if msg.HasField(name) else None  # type: ignore[attr-defined]


def _target_app(action: pb.WorkflowAction, own: str) -> str | None:
    """The other app an action is routed to (`WorkflowAction.router.targetAppID`), else None."""
    if not action.HasField("router") or not action.router.HasField("targetAppID"):
        return None
    target = action.router.targetAppID
    return target if target and target != own else None


def _router(own: str, target: str) -> pb.TaskRouter:
    return pb.TaskRouter(sourceAppID=own, targetAppID=target)


def process_turn(
    inst: Instance,
    new_events: list[pb.HistoryEvent],
    res: pb.WorkflowResponse,
    now: float,
    app_id: str = "",
) -> Plan:
    """Apply a worker's `WorkflowResponse` to `inst` whose turn carried `new_events`.

    `app_id` is this sidecar's app: an action routed to another app (cross-app activity or
    child) becomes a message for that app's sidecar instead of local work."""
    plan = Plan(append=list(new_events), custom_status=inst.custom_status)
    if res.HasField("version") and plan.append and plan.append[0].HasField("workflowStarted"):
        # The version and patches seen this turn live on its workflowStarted event, so that
        # `ctx.is_patched()` answers the same when the turn is replayed.
        started = pb.HistoryEvent()
        started.CopyFrom(plan.append[0])
        started.workflowStarted.version.CopyFrom(res.version)
        plan.append[0] = started
    if res.HasField("customStatus"):
        plan.custom_status = res.customStatus.value
        plan.custom_status_set = True
    terminate: pb.ExecutionTerminatedEvent | None = None
    for ev in new_events:
        if ev.HasField("executionTerminated"):
            terminate = ev.executionTerminated
    iid, exec_id = inst.instance_id, inst.execution_id
    start = started_event([*(inst.history or []), *new_events])
    # The caller's trace context continues into every activity and child (as in daprd).
    trace = start.parentTraceContext if start and start.HasField("parentTraceContext") else None
    completion: pb.CompleteWorkflowAction | None = None
    for action in res.actions:
        kind = action.WhichOneof("workflowActionType")
        if kind == "scheduleTask":
            a = action.scheduleTask
            target = _target_app(action, app_id)
            plan.append.append(
                event(
                    now,
                    action.id,
                    taskScheduled=pb.TaskScheduledEvent(
                        name=a.name,
                        version=a.version if a.HasField("version") else None,
                        input=a.input if a.HasField("input") else None,
                        taskExecutionId=a.taskExecutionId,
                        parentTraceContext=trace,
                    ),
                    router=_router(app_id, target) if target else None,
                )
            )
            work = pb.ActivityRequest(
                name=a.name,
                version=a.version if a.HasField("version") else None,
                input=a.input if a.HasField("input") else None,
                workflowInstance=pb.WorkflowInstance(instanceId=iid, executionId=sv(exec_id)),
                taskId=action.id,
                taskExecutionId=a.taskExecutionId,
                parentTraceContext=trace,
            )
            if target:
                plan.remote_activities.append((target, work))
            else:
                plan.activities.append(work)
        elif kind == "createTimer":
            a = action.createTimer
            created = pb.TimerCreatedEvent(fireAt=a.fireAt)
            if a.HasField("name"):
                created.name = a.name
            origin = a.WhichOneof("origin")
            if origin:
                getattr(created, origin).CopyFrom(getattr(a, origin))
            plan.append.append(event(now, action.id, timerCreated=created))
            fire_at = ts_seconds(a.fireAt)
            if fire_at < FOREVER:
                fired = event(
                    now, timerFired=pb.TimerFiredEvent(timerId=action.id, fireAt=a.fireAt)
                )
                plan.messages.append(Message(iid, fired, fire_at, exec_id))
        elif kind == "createChildWorkflow":
            a = action.createChildWorkflow
            target = _target_app(action, app_id)
            child_id = a.instanceId or f"{iid}:{action.id:04x}"
            plan.append.append(
                event(
                    now,
                    action.id,
                    childWorkflowInstanceCreated=pb.ChildWorkflowInstanceCreatedEvent(
                        instanceId=child_id,
                        name=a.name,
                        version=a.version if a.HasField("version") else None,
                        input=a.input if a.HasField("input") else None,
                    ),
                    router=_router(app_id, target) if target else None,
                )
            )
            child_exec = uuid.uuid4().hex
            started = event(
                now,
                executionStarted=pb.ExecutionStartedEvent(
                    name=a.name,
                    input=a.input if a.HasField("input") else None,
                    workflowInstance=pb.WorkflowInstance(
                        instanceId=child_id, executionId=sv(child_exec)
                    ),
                    parentInstance=pb.ParentInstanceInfo(
                        taskScheduledId=action.id,
                        name=sv(inst.name),
                        workflowInstance=pb.WorkflowInstance(
                            instanceId=iid, executionId=sv(exec_id)
                        ),
                        appID=app_id if target else None,
                    ),
                    parentTraceContext=trace,
                ),
                router=_router(app_id, target) if target else None,
            )
            plan.children.append(
                ChildStart(child_id, a.name, _opt(a, "input"), started, app=target)
            )
        elif kind == "sendEvent":
            a = action.sendEvent
            raised = event(
                now,
                eventRaised=pb.EventRaisedEvent(
                    name=a.name, input=a.data if a.HasField("data") else None
                ),
            )
            plan.messages.append(Message(a.instance.instanceId, raised, now))
        elif kind == "terminateWorkflow":
            a = action.terminateWorkflow
            term = event(
                now,
                executionTerminated=pb.ExecutionTerminatedEvent(
                    input=a.reason if a.HasField("reason") else None, recurse=a.recurse
                ),
            )
            plan.messages.append(Message(a.instanceId, term, now))
        elif kind == "completeWorkflow":
            completion = action.completeWorkflow
            if completion.workflowStatus == CONTINUED_AS_NEW:
                return _continue_as_new(inst, plan, completion, now)
            break
        elif kind == "workflowVersionNotAvailable":
            plan.status = STALLED
            plan.append.append(
                event(
                    now,
                    executionStalled=pb.ExecutionStalledEvent(
                        reason=pb.VERSION_NOT_AVAILABLE,
                        description="workflow version not available on the worker",
                    ),
                )
            )
    if completion is not None:
        _complete(
            inst,
            plan,
            completion.workflowStatus,
            _opt(completion, "result"),
            completion.failureDetails if completion.HasField("failureDetails") else None,
            now,
            recurse=terminate is not None and terminate.recurse,
        )
    elif terminate is not None:
        # The worker did not complete a terminated instance: force TERMINATED.
        _complete(
            inst,
            plan,
            TERMINATED,
            terminate.input.value if terminate.HasField("input") else None,
            None,
            now,
            recurse=terminate.recurse,
        )
    elif plan.status != STALLED:
        plan.status = SUSPENDED if inst.suspended else RUNNING
    return plan


def _complete(
    inst: Instance,
    plan: Plan,
    status: int,
    result: str | None,
    details: pb.TaskFailureDetails | None,
    now: float,
    recurse: bool,
) -> None:
    if status not in (COMPLETED, FAILED, TERMINATED):
        status = FAILED
        details = failure("InvalidStatus", f"worker completed with status {status}")
    plan.status, plan.output, plan.completed = status, result, True
    plan.failure = details.SerializeToString() if details is not None else None
    # The turn's own scheduled work is moot once the instance completes.
    plan.activities.clear()
    plan.messages = [m for m in plan.messages if m.target != inst.instance_id]
    plan.append.append(
        event(
            now,
            executionCompleted=pb.ExecutionCompletedEvent(
                workflowStatus=status,  # type: ignore[arg-type]
                result=sv(result) if result is not None else None,
                failureDetails=details,
            ),
        )
    )
    parent = _parent_of(inst, plan)
    if parent is not None:
        pid, task_id, parent_exec, parent_app = parent
        if status == COMPLETED:
            note = event(
                now,
                childWorkflowInstanceCompleted=pb.ChildWorkflowInstanceCompletedEvent(
                    taskScheduledId=task_id, result=sv(result) if result is not None else None
                ),
            )
        else:
            if details is None:
                details = failure(
                    "WorkflowTerminated" if status == TERMINATED else "WorkflowFailed",
                    f"child workflow '{inst.instance_id}' was "
                    + ("terminated" if status == TERMINATED else "failed"),
                )
            note = event(
                now,
                childWorkflowInstanceFailed=pb.ChildWorkflowInstanceFailedEvent(
                    taskScheduledId=task_id, failureDetails=details
                ),
            )
        plan.messages.append(Message(pid, note, now, parent_exec, app=parent_app))
    if status == TERMINATED and recurse:
        created = {c.instance_id: c.app for c in plan.children}
        apps = {**inst.child_apps, **{k: v for k, v in created.items() if v}}
        for child_id in [*inst.open_children(), *created]:
            term = event(
                now,
                executionTerminated=pb.ExecutionTerminatedEvent(input=None, recurse=True),
            )
            plan.messages.append(Message(child_id, term, now, app=apps.get(child_id)))


def _parent_of(inst: Instance, plan: Plan) -> tuple[str, int, str | None, str | None] | None:
    """(parent instance id, task id, parent execution id, parent's app when another one) from
    the executionStarted event."""
    start = started_event([*(inst.history or []), *plan.append])
    if start is None or not start.HasField("parentInstance"):
        return None
    p = start.parentInstance
    if not p.workflowInstance.instanceId:
        return None
    exec_id = p.workflowInstance.executionId.value or None
    app = p.appID if p.HasField("appID") and p.appID else None
    return p.workflowInstance.instanceId, p.taskScheduledId, exec_id, app


def _continue_as_new(
    inst: Instance, plan: Plan, completion: pb.CompleteWorkflowAction, now: float
) -> Plan:
    start = started_event([*(inst.history or []), *plan.append])
    exec_id = uuid.uuid4().hex
    new_input = _opt(completion, "result")
    started = pb.ExecutionStartedEvent(
        name=inst.name,
        input=sv(new_input) if new_input is not None else None,
        workflowInstance=pb.WorkflowInstance(instanceId=inst.instance_id, executionId=sv(exec_id)),
    )
    if start is not None and start.HasField("parentInstance"):
        started.parentInstance.CopyFrom(start.parentInstance)
    if start is not None and start.HasField("parentTraceContext"):
        started.parentTraceContext.CopyFrom(start.parentTraceContext)
    # durabletask-go discards the rest of the turn's work: the new execution starts clean.
    fresh = Plan(
        reset=[event(now, executionStarted=started), *completion.carryoverEvents],
        execution_id=exec_id,
        status=SUSPENDED if inst.suspended else RUNNING,
        input=new_input,
        custom_status=plan.custom_status,
        custom_status_set=plan.custom_status_set,
    )
    return fresh
