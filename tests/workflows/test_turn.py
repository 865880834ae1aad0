"""Table tests of the turn processor (actions -> history, messages, work), no servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from funchost.sidecar.workflows._pb import (
    COMPLETED,
    CONTINUED_AS_NEW,
    FAILED,
    RUNNING,
    SUSPENDED,
    TERMINATED,
    event,
    pb,
    sv,
    ts,
)
from funchost.sidecar.workflows.state import Instance, done_key
from funchost.sidecar.workflows.turn import process_turn

NOW = 1_700_000_000.0


def _inst(parent: str | None = None, suspended: bool = False) -> Instance:
    started = pb.ExecutionStartedEvent(
        name="wf",
        input=sv('"in"'),
        workflowInstance=pb.WorkflowInstance(instanceId="i1", executionId=sv("e1")),
    )
    if parent:
        started.parentInstance.CopyFrom(
            pb.ParentInstanceInfo(
                taskScheduledId=7, workflowInstance=pb.WorkflowInstance(instanceId=parent)
            )
        )
    inst = Instance("i1", "wf", "e1", RUNNING, NOW, NOW, suspended=suspended)
    inst.set_history(
        [
            event(NOW, workflowStarted=pb.WorkflowStartedEvent()),
            event(NOW, executionStarted=started),
        ]
    )
    return inst


def _res(*actions: pb.WorkflowAction) -> pb.WorkflowResponse:
    return pb.WorkflowResponse(instanceId="i1", actions=list(actions))


def _complete(status: int, result: str | None = None) -> pb.WorkflowAction:
    return pb.WorkflowAction(
        id=-1,
        completeWorkflow=pb.CompleteWorkflowAction(
            workflowStatus=status, result=sv(result) if result is not None else None
        ),
    )


def test_schedule_task_writes_history_and_activity() -> None:
    act = pb.WorkflowAction(id=1, scheduleTask=pb.ScheduleTaskAction(name="a", input=sv("1")))
    plan = process_turn(_inst(), [], _res(act), NOW)
    assert [e.WhichOneof("eventType") for e in plan.append] == ["taskScheduled"]
    assert plan.append[0].eventId == 1
    assert plan.activities[0].taskId == 1 and plan.activities[0].name == "a"
    assert plan.status == RUNNING


@pytest.mark.parametrize(
    ("fire_at", "messages"),
    [(NOW + 60, 1), (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp(), 0)],
)
def test_timers_fire_at_their_time_but_never_the_forever_timer(
    fire_at: float, messages: int
) -> None:
    act = pb.WorkflowAction(id=2, createTimer=pb.CreateTimerAction(fireAt=ts(fire_at)))
    plan = process_turn(_inst(), [], _res(act), NOW)
    assert plan.append[0].HasField("timerCreated")
    assert len(plan.messages) == messages
    if messages:
        assert plan.messages[0].visible_at == pytest.approx(fire_at)
        assert plan.messages[0].event.timerFired.timerId == 2


@pytest.mark.parametrize(
    ("status", "note"),
    [(COMPLETED, "childWorkflowInstanceCompleted"), (FAILED, "childWorkflowInstanceFailed")],
)
def test_child_completion_notifies_parent(status: int, note: str) -> None:
    plan = process_turn(_inst(parent="p1"), [], _res(_complete(status, '"r"')), NOW)
    assert plan.completed and plan.status == status
    assert plan.append[-1].HasField("executionCompleted")
    (msg,) = plan.messages
    assert msg.target == "p1" and msg.event.WhichOneof("eventType") == note
    assert getattr(msg.event, note).taskScheduledId == 7


def test_continue_as_new_resets_history_with_carryover() -> None:
    carry = event(NOW, eventRaised=pb.EventRaisedEvent(name="x"))
    action = _complete(CONTINUED_AS_NEW, "5")
    action.completeWorkflow.carryoverEvents.append(carry)
    plan = process_turn(_inst(), [], _res(action), NOW)
    assert plan.reset is not None
    assert [e.WhichOneof("eventType") for e in plan.reset] == ["executionStarted", "eventRaised"]
    assert plan.reset[0].executionStarted.input.value == "5"
    assert plan.execution_id and plan.execution_id != "e1"
    assert not plan.completed and plan.append == []


@pytest.mark.parametrize("suspended", [False, True])
def test_terminate_is_forced_when_the_worker_does_not_complete(suspended: bool) -> None:
    inst = _inst(suspended=suspended)
    inst.children[3] = "kid"
    term = event(
        NOW, executionTerminated=pb.ExecutionTerminatedEvent(input=sv('"x"'), recurse=True)
    )
    plan = process_turn(inst, [term], _res(), NOW)
    assert plan.status == TERMINATED and plan.output == '"x"'
    assert [m.target for m in plan.messages] == ["kid"]


def test_status_follows_suspension() -> None:
    assert process_turn(_inst(suspended=True), [], _res(), NOW).status == SUSPENDED


@pytest.mark.parametrize(
    ("ev", "key"),
    [
        (event(NOW, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=4)), ("task", 4)),
        (event(NOW, taskFailed=pb.TaskFailedEvent(taskScheduledId=4)), ("task", 4)),
        (event(NOW, timerFired=pb.TimerFiredEvent(timerId=2)), ("timer", 2)),
        (event(NOW, eventRaised=pb.EventRaisedEvent(name="e")), None),
    ],
)
def test_dedup_keys(ev: pb.HistoryEvent, key: tuple[str, int] | None) -> None:
    assert done_key(ev) == key
