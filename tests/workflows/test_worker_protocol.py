"""The worker side of TaskHubSidecarService, driven with a raw gRPC stub (no SDK worker).

Checks what the SDK relies on: health pings, workflowStarted(now) first in every turn, completion
tokens (stale ones discarded), duplicate activity results de-duplicated, and in-flight work
re-dispatched to the next stream when a worker disconnects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from funchost.sidecar import free_port
from funchost.sidecar.clock import VirtualClock
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread
from funchost.sidecar.workflows import grpc_service
from funchost.sidecar.workflows._pb import COMPLETED, pb, pbg, sv

pytestmark = pytest.mark.e2e


@pytest.fixture
def raw(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, VirtualClock, Any]]:
    monkeypatch.setattr(grpc_service, "HEALTH_PING_INTERVAL", 0.05)
    clock = VirtualClock(start=1_800_000_000.0)
    sidecar = Sidecar(SidecarConfig(http_port=free_port(), grpc_port=0), clock=clock)
    thread = SidecarThread(sidecar)
    thread.start()
    channel = grpc.insecure_channel(sidecar.grpc_address)
    try:
        yield pbg.TaskHubSidecarServiceStub(channel), clock, thread
    finally:
        channel.close()
        thread.stop()


def _stream(stub: Any) -> Any:
    req = pb.GetWorkItemsRequest(capabilities=[pb.WORKER_CAPABILITY_HEALTH_PING])
    return stub.GetWorkItems(req)


def _next(stream: Any, kind: str) -> pb.WorkItem:
    """The next work item of `kind`, skipping health pings."""
    for _ in range(500):
        item = next(stream)
        if item.WhichOneof("request") == kind:
            return item
        assert item.HasField("healthPing"), item
    raise AssertionError(f"no {kind} work item")


def _schedule(item: pb.WorkItem, token: str | None = None) -> pb.WorkflowResponse:
    action = pb.WorkflowAction(id=0, scheduleTask=pb.ScheduleTaskAction(name="act", input=sv("1")))
    return pb.WorkflowResponse(
        instanceId=item.workflowRequest.instanceId,
        actions=[action],
        completionToken=token if token is not None else item.completionToken,
    )


def test_turns_tokens_and_duplicate_results(raw: tuple[Any, VirtualClock, Any]) -> None:
    stub, clock, _ = raw
    stream = _stream(stub)
    assert stub.Hello(pb.empty_pb2.Empty()) is not None
    next_ping = next(stream)
    assert next_ping.HasField("healthPing")
    stub.StartInstance(pb.CreateInstanceRequest(instanceId="raw", name="w", input=sv('"in"')))

    turn = _next(stream, "workflowRequest")
    new = turn.workflowRequest.newEvents
    assert [e.WhichOneof("eventType") for e in new] == ["workflowStarted", "executionStarted"]
    assert new[0].timestamp.seconds == int(clock.time())  # ctx.current_utc_datetime
    assert new[1].executionStarted.name == "w" and new[1].executionStarted.input.value == '"in"'
    assert list(turn.workflowRequest.pastEvents) == []

    stub.CompleteOrchestratorTask(_schedule(turn, token="stale-token"))  # discarded
    stub.CompleteOrchestratorTask(_schedule(turn))
    act = _next(stream, "activityRequest")
    assert act.activityRequest.name == "act" and act.activityRequest.taskId == 0
    assert act.activityRequest.workflowInstance.instanceId == "raw"

    result = pb.ActivityResponse(
        instanceId="raw", taskId=0, result=sv("42"), completionToken=act.completionToken
    )
    stub.CompleteActivityTask(result)
    stub.CompleteActivityTask(result)  # at-least-once: a duplicate result is dropped

    turn2 = _next(stream, "workflowRequest")
    past = [e.WhichOneof("eventType") for e in turn2.workflowRequest.pastEvents]
    assert past == ["workflowStarted", "executionStarted", "taskScheduled"]
    new2 = [e.WhichOneof("eventType") for e in turn2.workflowRequest.newEvents]
    assert new2 == ["workflowStarted", "taskCompleted"]
    done = pb.WorkflowAction(
        id=1,
        completeWorkflow=pb.CompleteWorkflowAction(workflowStatus=COMPLETED, result=sv("42")),
    )
    stub.CompleteOrchestratorTask(
        pb.WorkflowResponse(instanceId="raw", actions=[done], completionToken=turn2.completionToken)
    )
    state = stub.WaitForInstanceCompletion(
        pb.GetInstanceRequest(instanceId="raw", getInputsAndOutputs=True), timeout=10
    )
    assert state.workflowState.workflowStatus == COMPLETED
    assert state.workflowState.output.value == "42"
    history = stub.GetInstanceHistory(pb.GetInstanceHistoryRequest(instanceId="raw")).events
    kinds = [e.WhichOneof("eventType") for e in history]
    assert kinds.count("taskCompleted") == 1 and kinds[-1] == "executionCompleted"
    stream.cancel()


def test_disconnected_worker_work_is_redispatched(raw: tuple[Any, VirtualClock, Any]) -> None:
    stub, _, _ = raw
    first = _stream(stub)
    stub.StartInstance(pb.CreateInstanceRequest(instanceId="rd", name="w"))
    turn = _next(first, "workflowRequest")
    stub.CompleteOrchestratorTask(_schedule(turn))
    act = _next(first, "activityRequest")
    first.cancel()  # the worker goes away with the activity in flight

    second = _stream(stub)
    again = _next(second, "activityRequest")
    assert again.activityRequest.taskId == act.activityRequest.taskId
    assert again.completionToken != act.completionToken
    stub.CompleteActivityTask(
        pb.ActivityResponse(
            instanceId="rd", taskId=0, result=sv("1"), completionToken=again.completionToken
        )
    )
    turn2 = _next(second, "workflowRequest")
    assert turn2.workflowRequest.newEvents[1].HasField("taskCompleted")
    second.cancel()


def test_unknown_instances(raw: tuple[Any, VirtualClock, Any]) -> None:
    stub, _, _ = raw
    assert not stub.GetInstance(pb.GetInstanceRequest(instanceId="ghost")).exists
    for call, req in [
        (stub.RaiseEvent, pb.RaiseEventRequest(instanceId="ghost", name="e")),
        (stub.TerminateInstance, pb.TerminateRequest(instanceId="ghost")),
        (stub.GetInstanceHistory, pb.GetInstanceHistoryRequest(instanceId="ghost")),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            call(req)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    stub.StartInstance(pb.CreateInstanceRequest(instanceId="dup", name="w"))
    with pytest.raises(grpc.RpcError) as err:
        stub.StartInstance(pb.CreateInstanceRequest(instanceId="dup", name="w"))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_unanswered_turn_is_dispatched_again(raw: tuple[Any, VirtualClock, Any]) -> None:
    stub, _, thread = raw
    stream = _stream(stub)
    stub.StartInstance(pb.CreateInstanceRequest(instanceId="slow", name="w"))
    lost = _next(stream, "workflowRequest")
    engine = thread.sidecar.get("workflows").engine

    async def expire() -> int:
        return engine.expire_turns(float("inf"))

    assert thread.call(expire()) == 1
    again = _next(stream, "workflowRequest")
    assert again.completionToken != lost.completionToken
    assert list(again.workflowRequest.newEvents)[1].HasField("executionStarted")
    stub.CompleteOrchestratorTask(_schedule(lost))  # the late answer is stale: discarded
    stub.CompleteOrchestratorTask(_schedule(again))
    act = _next(stream, "activityRequest")
    assert act.activityRequest.workflowInstance.instanceId == "slow"
    history = stub.GetInstanceHistory(pb.GetInstanceHistoryRequest(instanceId="slow")).events
    assert [e.WhichOneof("eventType") for e in history].count("taskScheduled") == 1
    stream.cancel()


def test_stateful_workers_get_history_deltas(raw: tuple[Any, VirtualClock, Any]) -> None:
    stub, _, _ = raw
    caps = [pb.WORKER_CAPABILITY_HEALTH_PING, pb.WORKER_CAPABILITY_STATEFUL_HISTORY]
    stream = stub.GetWorkItems(pb.GetWorkItemsRequest(capabilities=caps))
    stub.StartInstance(pb.CreateInstanceRequest(instanceId="delta", name="w"))
    turn = _next(stream, "workflowRequest")
    assert not turn.workflowRequest.HasField("cachedHistory")  # cold: full history
    stub.CompleteOrchestratorTask(_schedule(turn))
    act = _next(stream, "activityRequest")
    stub.CompleteActivityTask(
        pb.ActivityResponse(
            instanceId="delta", taskId=0, result=sv("1"), completionToken=act.completionToken
        )
    )
    item2 = _next(stream, "workflowRequest")
    turn2 = item2.workflowRequest
    # the worker holds the 0 committed events of turn 1; the delta is the 3 committed since
    assert turn2.HasField("cachedHistory") and turn2.cachedHistory.eventCount == 0
    kinds = [e.WhichOneof("eventType") for e in turn2.pastEvents]
    assert kinds == ["workflowStarted", "executionStarted", "taskScheduled"]
    again = pb.WorkflowAction(id=1, scheduleTask=pb.ScheduleTaskAction(name="act"))
    stub.CompleteOrchestratorTask(
        pb.WorkflowResponse(
            instanceId="delta", actions=[again], completionToken=item2.completionToken
        )
    )
    act2 = _next(stream, "activityRequest")
    stub.CompleteActivityTask(
        pb.ActivityResponse(instanceId="delta", taskId=1, completionToken=act2.completionToken)
    )
    turn3 = _next(stream, "workflowRequest").workflowRequest
    assert turn3.cachedHistory.eventCount == 3  # what turn 2 carried
    kinds = [e.WhichOneof("eventType") for e in turn3.pastEvents]
    assert kinds == ["workflowStarted", "taskCompleted", "taskScheduled"]
    stream.cancel()


def test_empty_completion_tokens_are_accepted(raw: tuple[Any, VirtualClock, Any]) -> None:
    """durabletask-js sends no completionToken: daprd (durabletask-go) accepts an empty one."""
    stub, _, _ = raw
    stream = _stream(stub)
    stub.StartInstance(pb.CreateInstanceRequest(instanceId="js", name="w", input=sv("1")))
    turn = _next(stream, "workflowRequest")
    stub.CompleteOrchestratorTask(_schedule(turn, token="wrong"))  # non-empty mismatch: stale
    stub.CompleteOrchestratorTask(_schedule(turn, token=""))
    act = _next(stream, "activityRequest")
    stub.CompleteActivityTask(pb.ActivityResponse(instanceId="js", taskId=0, result=sv("7")))
    turn2 = _next(stream, "workflowRequest")
    new2 = [e.WhichOneof("eventType") for e in turn2.workflowRequest.newEvents]
    assert new2 == ["workflowStarted", "taskCompleted"], act
    done = pb.WorkflowAction(
        id=1, completeWorkflow=pb.CompleteWorkflowAction(workflowStatus=COMPLETED, result=sv("7"))
    )
    stub.CompleteOrchestratorTask(pb.WorkflowResponse(instanceId="js", actions=[done]))
    state = stub.WaitForInstanceCompletion(
        pb.GetInstanceRequest(instanceId="js", getInputsAndOutputs=True), timeout=10
    )
    assert state.workflowState.workflowStatus == COMPLETED
    assert state.workflowState.output.value == "7"
