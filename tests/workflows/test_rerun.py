"""RerunWorkflowFromEvent through the SDK's `DaprWorkflowClient.rerun_workflow_from_event`, and
the history fork it rests on (daprd's `fork.go`) as a table."""

from __future__ import annotations

import json

import grpc
import pytest
from dapr.ext.workflow import WorkflowStatus

from funchost.sidecar.workflows._pb import event, pb, sv
from funchost.sidecar.workflows.engine import WorkflowError
from funchost.sidecar.workflows.rerun import fork_history

from . import _flows
from .conftest import WfEnv


def _scheduled_ids(wfenv: WfEnv, iid: str, kind: str) -> list[int]:
    events = wfenv.client.get_workflow_history(iid)
    return [e.event_id for e in events if e.event_type.value == kind]


@pytest.mark.e2e
def test_rerun_from_an_activity_with_new_input(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.chain, input="rr", instance_id="rr-src")
    assert wfenv.wait(iid).runtime_status == WorkflowStatus.COMPLETED
    second = _scheduled_ids(wfenv, iid, "taskScheduled")[1]
    new_id = wfenv.client.rerun_workflow_from_event(
        iid, second, new_instance_id="rr-new", input="X"
    )
    assert new_id == "rr-new"
    state = wfenv.wait(new_id)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    # the first activity is replayed from history, the second reruns with the new input
    assert json.loads(state.serialized_output) == ["hello rr", "hello X", "hello hello X"]
    assert _flows.calls["hello:rr"] == 1 and _flows.calls["hello:X"] == 1
    # without input: the recorded input again; the source instance is untouched
    again = wfenv.client.rerun_workflow_from_event(iid, second)
    assert json.loads(wfenv.wait(again).serialized_output) == [
        "hello rr",
        "hello hello rr",
        "hello hello hello rr",
    ]
    assert wfenv.client.get_workflow_state(iid).runtime_status == WorkflowStatus.COMPLETED


@pytest.mark.e2e
def test_rerun_from_a_child_workflow_and_a_timer(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.parent, input=2, instance_id="rr-parent")
    assert json.loads(wfenv.wait(iid).serialized_output) == [0, 1]
    created = _scheduled_ids(wfenv, iid, "childWorkflowInstanceCreated")
    new_id = wfenv.client.rerun_workflow_from_event(
        iid,
        created[1],
        new_instance_id="rr-parent-2",
        input=5,
        new_child_workflow_instance_id="kid",
    )
    state = wfenv.wait(new_id)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output) == [0, 25]  # child 0 replayed, child 1 rerun
    assert wfenv.client.get_workflow_state("kid").runtime_status == WorkflowStatus.COMPLETED
    # a child cannot be the source
    with pytest.raises(grpc.RpcError) as err:
        wfenv.client.rerun_workflow_from_event("kid", 0)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    sleeper = wfenv.client.schedule_new_workflow(_flows.sleeper, instance_id="rr-sleeper")
    wfenv.settle()
    wfenv.advance(24 * 3600)
    assert wfenv.wait(sleeper).runtime_status == WorkflowStatus.COMPLETED
    timer = _scheduled_ids(wfenv, sleeper, "timerCreated")[0]
    with pytest.raises(grpc.RpcError) as err:
        wfenv.client.rerun_workflow_from_event(sleeper, timer, input="no")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    again = wfenv.client.rerun_workflow_from_event(sleeper, timer)  # the timer fires at once
    assert wfenv.wait(again).runtime_status == WorkflowStatus.COMPLETED


@pytest.mark.e2e
def test_rerun_errors_are_daprd_s(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.chain, input="re", instance_id="re-src")
    assert wfenv.wait(iid).runtime_status == WorkflowStatus.COMPLETED
    first = _scheduled_ids(wfenv, iid, "taskScheduled")[0]
    running = wfenv.client.schedule_new_workflow(_flows.waits_forever, instance_id="re-run")
    wfenv.settle()
    cases = [
        ("nosuch", first, {}, grpc.StatusCode.NOT_FOUND),
        (running, 0, {}, grpc.StatusCode.INVALID_ARGUMENT),
        (iid, first, {"new_instance_id": iid}, grpc.StatusCode.INVALID_ARGUMENT),
        (iid, first, {"new_instance_id": running}, grpc.StatusCode.ALREADY_EXISTS),
        (iid, 999, {}, grpc.StatusCode.NOT_FOUND),
    ]
    for source, event_id, kwargs, code in cases:
        with pytest.raises(grpc.RpcError) as err:
            wfenv.client.rerun_workflow_from_event(source, event_id, **kwargs)
        assert err.value.code() == code, (source, event_id, kwargs, err.value.details())
    wfenv.client.terminate_workflow(running)


# -- the fork, as a table ----------------------------------------------------------------------


def _history() -> list[pb.HistoryEvent]:
    started = pb.ExecutionStartedEvent(
        name="w", workflowInstance=pb.WorkflowInstance(instanceId="src", executionId=sv("e1"))
    )
    return [
        event(0, workflowStarted=pb.WorkflowStartedEvent()),
        event(0, executionStarted=started),
        event(0, 0, taskScheduled=pb.TaskScheduledEvent(name="a", input=sv('"in-a"'))),
        event(0, 1, taskScheduled=pb.TaskScheduledEvent(name="b", input=sv('"in-b"'))),
        event(0, workflowStarted=pb.WorkflowStartedEvent()),
        event(0, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=0, result=sv('"A"'))),
        event(0, 2, timerCreated=pb.TimerCreatedEvent()),
        event(0, 3, childWorkflowInstanceCreated=pb.ChildWorkflowInstanceCreatedEvent(name="c")),
        event(0, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=1, result=sv('"B"'))),
        event(0, timerFired=pb.TimerFiredEvent(timerId=2)),
        event(0, 4, detachedWorkflowInstanceCreated=pb.DetachedWorkflowInstanceCreatedEvent()),
        event(0, executionCompleted=pb.ExecutionCompletedEvent()),
    ]


def _kinds(events: list[pb.HistoryEvent]) -> list[str]:
    return [str(e.WhichOneof("eventType")) for e in events]


def test_fork_reruns_the_target_and_what_was_unfinished() -> None:
    fork = fork_history(_history(), 2, "new", "e2")
    # b (unfinished when the timer was created) moves after its completion is dropped
    assert _kinds(fork.history) == [
        "workflowStarted",
        "executionStarted",
        "workflowStarted",
        "taskScheduled",
        "taskCompleted",
        "timerCreated",
        "taskScheduled",
    ]
    started = fork.history[1].executionStarted.workflowInstance
    assert (started.instanceId, started.executionId.value) == ("new", "e2")
    assert [e.eventId for e in fork.timers] == [2]
    assert [e.taskScheduled.name for e in fork.activities] == ["b"]
    assert fork.children == []


def test_fork_overwrites_input_and_renames_children() -> None:
    fork = fork_history(_history(), 0, "new", "e2", overwrite_input=True, input=sv('"X"'))
    assert fork.activities[0].taskScheduled.input.value == '"X"'
    child = fork_history(_history(), 3, "new", "e2")
    assert [c.childWorkflowInstanceCreated.instanceId for c in child.children] == ["new:0003"]
    named = fork_history(_history(), 3, "new", "e2", new_child_instance_id="kid")
    assert named.children[0].childWorkflowInstanceCreated.instanceId == "kid"
    cleared = fork_history(_history(), 1, "new", "e2", overwrite_input=True, input=None)
    assert not cleared.activities[0].taskScheduled.HasField("input")


@pytest.mark.parametrize(
    ("event_id", "kwargs", "code", "text"),
    [
        (99, {}, "not_found", "does not have history event with ID '99'"),
        (2, {"overwrite_input": True, "input": sv("1")}, "invalid", "cannot write input to timer"),
        (0, {"new_child_instance_id": "kid"}, "invalid", "not a child workflow"),
        (4, {}, "invalid", "detached workflow"),
        (-1, {}, "not_found", "is not an event that can be rerun"),
    ],
)
def test_fork_errors(event_id: int, kwargs: dict[str, object], code: str, text: str) -> None:
    with pytest.raises(WorkflowError) as err:
        fork_history(_history(), event_id, "new", "e2", **kwargs)  # type: ignore[arg-type]
    assert err.value.code == code and text in str(err.value)
