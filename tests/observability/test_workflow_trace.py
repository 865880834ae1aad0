"""Trace context into workflows across processes: the sidecar carries the `traceparent` given to
StartInstance into `executionStarted` and every activity's `parentTraceContext` (as daprd does)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.ext.workflow._durabletask.internal import protos as pb
from dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc import (
    TaskHubSidecarServiceStub,
)
from google.protobuf import wrappers_pb2

from funchost.observability import propagation
from funchost.testing import LocalRuntime

pytestmark = pytest.mark.e2e
SAMPLE = Path(__file__).parent / "sample" / "workflows"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def no_in_process_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which trace started an instance in this process: activities then only see the
    trace when the sidecar hands it over, as when the worker runs in another process."""
    monkeypatch.setattr(propagation, "remember_workflow_trace", lambda *a, **k: None)


@pytest.fixture
async def runtime(no_in_process_memory: None) -> AsyncIterator[LocalRuntime]:
    async with LocalRuntime(SAMPLE, resources=[]) as rt:
        yield rt


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]


def history(address: str, instance_id: str) -> list[Any]:
    with grpc.insecure_channel(address) as channel:
        stub = TaskHubSidecarServiceStub(channel)
        reply = stub.GetInstanceHistory(pb.GetInstanceHistoryRequest(instanceId=instance_id))
    return list(reply.events)


def trace_ids_in_history(events: list[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for ev in events:
        kind = ev.WhichOneof("eventType")
        if kind in ("executionStarted", "taskScheduled"):
            traceparent = getattr(ev, kind).parentTraceContext.traceParent
            out.setdefault(kind, set()).add(traceparent.split("-")[1] if traceparent else "")
    return out


async def test_activities_continue_the_trace_of_the_handler_through_the_sidecar(
    runtime: LocalRuntime, log_stream: io.StringIO
) -> None:
    await runtime.publish("pubsub", "start-doubler", {"id": "wf-x", "n": 5})
    await runtime.idle()
    assert await runtime.workflows.result("wf-x") == 20
    logs = records(log_stream)
    started = next(r for r in logs if r["msg"] == "starting doubler wf-x")
    doubled = [r for r in logs if str(r["msg"]).startswith("doubling")]
    assert len(doubled) == 2
    assert {r["trace_id"] for r in doubled} == {started["trace_id"]}
    # the sidecar recorded it durably: on the instance and on each scheduled activity
    assert trace_ids_in_history(history(runtime.grpc_address, "wf-x")) == {
        "executionStarted": {started["trace_id"]},
        "taskScheduled": {started["trace_id"]},
    }


async def test_start_instance_parent_trace_context_field_reaches_the_activities(
    runtime: LocalRuntime, log_stream: io.StringIO
) -> None:
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    request = pb.CreateInstanceRequest(
        instanceId="wf-field",
        name="doubler",
        input=wrappers_pb2.StringValue(value="1"),
        parentTraceContext=pb.TraceContext(traceParent=traceparent),
    )
    with grpc.insecure_channel(runtime.grpc_address) as channel:
        TaskHubSidecarServiceStub(channel).StartInstance(request)
    assert await runtime.workflows.result("wf-field") == 4
    doubled = [r for r in records(log_stream) if str(r["msg"]).startswith("doubling")]
    assert [r["trace_id"] for r in doubled] == [TRACE_ID, TRACE_ID]


async def test_a_workflow_started_without_trace_context_gets_one_trace_of_its_own(
    runtime: LocalRuntime, log_stream: io.StringIO
) -> None:
    instance = await runtime.workflows.start("doubler", input=2, instance_id="wf-plain")
    assert await runtime.workflows.result(instance) == 8
    traces = trace_ids_in_history(history(runtime.grpc_address, instance))
    (trace_id,) = traces["executionStarted"]
    assert len(trace_id) == 32 and trace_id != "0" * 32
    assert traces["taskScheduled"] == {trace_id}
    doubled = [r for r in records(log_stream) if str(r["msg"]).startswith("doubling")]
    assert [r["trace_id"] for r in doubled] == [trace_id, trace_id]
