"""`TaskHubSidecarService` (durabletask's gRPC API) served on the sidecar's gRPC port."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from google.protobuf import empty_pb2

from ._pb import PENDING, TERMINAL, pb, pbg, sv, trace_of, ts, ts_seconds
from .engine import Engine, WorkflowError
from .rerun import rerun
from .state import Instance

HEALTH_PING_INTERVAL = 5.0  # transport keepalive on the stream (real time)

_CODES = {
    "not_found": grpc.StatusCode.NOT_FOUND,
    "already_exists": grpc.StatusCode.ALREADY_EXISTS,
    "failed_precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
}


def instance_state(inst: Instance, payloads: bool) -> pb.WorkflowState:
    """The `WorkflowState` message describing an instance."""
    state = pb.WorkflowState(
        instanceId=inst.instance_id,
        name=inst.name,
        workflowStatus=inst.status,  # type: ignore[arg-type]
        createdTimestamp=ts(inst.created),
        lastUpdatedTimestamp=ts(inst.updated),
        executionId=sv(inst.execution_id),
    )
    if inst.completed is not None:
        state.completedTimestamp.CopyFrom(ts(inst.completed))
    if inst.scheduled_start is not None:
        state.scheduledStartTimestamp.CopyFrom(ts(inst.scheduled_start))
    if inst.parent_id:
        state.parentInstanceId.value = inst.parent_id
    details = inst.failure_details()
    if details is not None:
        state.failureDetails.CopyFrom(details)
    if payloads:
        if inst.input is not None:
            state.input.value = inst.input
        if inst.output is not None:
            state.output.value = inst.output
        if inst.custom_status is not None:
            state.customStatus.value = inst.custom_status
    return state


def _response(inst: Instance | None, payloads: bool) -> pb.GetInstanceResponse:
    if inst is None:
        return pb.GetInstanceResponse(exists=False)
    return pb.GetInstanceResponse(exists=True, workflowState=instance_state(inst, payloads))


class _GenericHandlersOnly:
    """Server proxy keeping only the generic handlers of a generated `add_*_to_server` call.

    grpc.aio keeps a pending "registered call" per registered method and waits on all of them for
    every incoming RPC, a large share of the CPU of a small call; generic handlers serve the same
    paths (`/TaskHubSidecarService/<Method>`) without that cost.
    """

    def __init__(self, server: Any) -> None:
        self.server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        """Dropped on purpose (see the class docstring)."""


def add_taskhub_service(engine: Engine, server: Any) -> None:
    """Register `TaskHubSidecarService` for `engine` on a grpc.aio server."""
    servicer = TaskHubServicer(engine)
    pbg.add_TaskHubSidecarServiceServicer_to_server(servicer, _GenericHandlersOnly(server))


class TaskHubServicer(pbg.TaskHubSidecarServiceServicer):  # type: ignore[misc]
    """Async servicer: every call runs on the sidecar's event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _guard(self, context: Any, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except WorkflowError as exc:
            await context.abort(_CODES.get(exc.code, grpc.StatusCode.UNKNOWN), str(exc))

    async def Hello(self, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def StartInstance(self, request: Any, context: Any) -> pb.CreateInstanceResponse:
        start_at = (
            ts_seconds(request.scheduledStartTimestamp)
            if request.HasField("scheduledStartTimestamp")
            else None
        )
        inp = request.input.value if request.HasField("input") else None
        trace = trace_of(request, context.invocation_metadata() or ())
        iid = await self._guard(
            context, self.engine.start, request.name, request.instanceId, inp, start_at, trace
        )
        return pb.CreateInstanceResponse(instanceId=iid)

    async def GetInstance(self, request: Any, context: Any) -> pb.GetInstanceResponse:
        return _response(self.engine.get(request.instanceId), request.getInputsAndOutputs)

    async def WaitForInstanceStart(self, request: Any, context: Any) -> pb.GetInstanceResponse:
        inst = await self.engine.wait_for(
            request.instanceId, lambda i: i is not None and i.status != PENDING
        )
        return _response(inst, request.getInputsAndOutputs)

    async def WaitForInstanceCompletion(self, request: Any, context: Any) -> pb.GetInstanceResponse:
        inst = await self.engine.wait_for(
            request.instanceId, lambda i: i is not None and i.status in TERMINAL
        )
        return _response(inst, request.getInputsAndOutputs)

    async def RaiseEvent(self, request: Any, context: Any) -> pb.RaiseEventResponse:
        data = request.input.value if request.HasField("input") else None
        await self._guard(context, self.engine.raise_event, request.instanceId, request.name, data)
        return pb.RaiseEventResponse()

    async def TerminateInstance(self, request: Any, context: Any) -> pb.TerminateResponse:
        out = request.output.value if request.HasField("output") else None
        await self._guard(
            context, self.engine.terminate, request.instanceId, out, request.recursive
        )
        return pb.TerminateResponse()

    async def SuspendInstance(self, request: Any, context: Any) -> pb.SuspendResponse:
        reason = request.reason.value if request.HasField("reason") else None
        await self._guard(context, self.engine.suspend, request.instanceId, reason)
        return pb.SuspendResponse()

    async def ResumeInstance(self, request: Any, context: Any) -> pb.ResumeResponse:
        reason = request.reason.value if request.HasField("reason") else None
        await self._guard(context, self.engine.resume, request.instanceId, reason)
        return pb.ResumeResponse()

    async def PurgeInstances(self, request: Any, context: Any) -> pb.PurgeInstancesResponse:
        if request.WhichOneof("request") == "purgeInstanceFilter":
            f = request.purgeInstanceFilter
            count = self.engine.purge_where(
                ts_seconds(f.createdTimeFrom) if f.HasField("createdTimeFrom") else None,
                ts_seconds(f.createdTimeTo) if f.HasField("createdTimeTo") else None,
                set(f.runtimeStatus),
                request.recursive,
            )
        else:
            count = await self._guard(
                context, self.engine.purge, request.instanceId, request.recursive
            )
        res = pb.PurgeInstancesResponse(deletedInstanceCount=count or 0)
        res.isComplete.value = True
        return res

    async def ListInstanceIDs(self, request: Any, context: Any) -> pb.ListInstanceIDsResponse:
        size = request.pageSize if request.HasField("pageSize") else None
        token = request.continuationToken if request.HasField("continuationToken") else None
        ids, nxt = self.engine.list_ids(size, token)
        res = pb.ListInstanceIDsResponse(instanceIds=ids)
        if nxt is not None:
            res.continuationToken = nxt
        return res

    async def GetInstanceHistory(self, request: Any, context: Any) -> pb.GetInstanceHistoryResponse:
        events = await self._guard(context, self.engine.history, request.instanceId)
        return pb.GetInstanceHistoryResponse(events=events)

    async def RerunWorkflowFromEvent(self, request: Any, context: Any) -> Any:
        new_id = await self._guard(context, rerun, self.engine, request)
        return pb.RerunWorkflowFromEventResponse(newInstanceID=new_id)

    async def CompleteActivityTask(self, request: Any, context: Any) -> pb.CompleteTaskResponse:
        await self.engine.group.submit(self.engine.complete_activity, request)
        return pb.CompleteTaskResponse()

    async def CompleteOrchestratorTask(self, request: Any, context: Any) -> pb.CompleteTaskResponse:
        await self.engine.group.submit(self.engine.complete_turn, request)
        return pb.CompleteTaskResponse()

    async def CompleteWorkflowTask(self, request: Any, context: Any) -> pb.CompleteTaskResponse:
        await self.engine.group.submit(self.engine.complete_turn, request)
        return pb.CompleteTaskResponse()

    async def GetWorkItems(self, request: Any, context: Any) -> Any:
        pings = pb.WORKER_CAPABILITY_HEALTH_PING in request.capabilities
        stateful = pb.WORKER_CAPABILITY_STATEFUL_HISTORY in request.capabilities
        conn = self.engine.dispatcher.connect(pings, stateful)
        self.engine._kick()
        item: pb.WorkItem | None
        try:
            while True:
                if not conn.queue.empty():
                    item = conn.queue.get_nowait()  # no timer task while items are queued
                else:
                    try:
                        item = await asyncio.wait_for(conn.queue.get(), HEALTH_PING_INTERVAL)
                    except TimeoutError:
                        if not pings:
                            continue
                        item = pb.WorkItem(healthPing=pb.HealthPing())
                if item is None:  # the sidecar closed this stream (see Engine.close_worker)
                    return
                yield item
        finally:
            with contextlib.suppress(Exception):
                self.engine.worker_lost(conn)
