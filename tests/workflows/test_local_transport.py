"""`LocalTaskHub`: the in-process transport answers as the gRPC server would (codes, limits,
stream ends); the workflow patterns themselves run over it through `wfenv[local]`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal import protos as pb

from funchost.sidecar import free_port
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread


@pytest.fixture(scope="module")
def sidecar() -> Iterator[SidecarThread]:
    config = SidecarConfig(http_port=free_port(), grpc_port=0, max_body_size=64 * 1024)
    thread = SidecarThread(Sidecar(config))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def _stubs(thread: SidecarThread) -> tuple[object, pbg.TaskHubSidecarServiceStub, object]:
    local = thread.local_taskhub().interceptor()
    address = f"127.0.0.1:{thread.sidecar.config.grpc_port}"
    channel = grpc.intercept_channel(grpc.insecure_channel(address), local)
    return local, pbg.TaskHubSidecarServiceStub(channel), channel


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return]


def test_same_codes_as_the_grpc_server(sidecar: SidecarThread) -> None:
    address = f"127.0.0.1:{sidecar.sidecar.config.grpc_port}"
    network = pbg.TaskHubSidecarServiceStub(grpc.insecure_channel(address))
    _, local, _ = _stubs(sidecar)
    missing = pb.RaiseEventRequest(instanceId="nope", name="e")
    big = pb.ActivityResponse(instanceId="x", taskId=1, result=pb.wrappers_pb2.StringValue())
    big.result.value = "x" * 70_000  # over the sidecar's 64 KiB receive limit
    for stub in (network, local):
        assert stub.Hello(pb.empty_pb2.Empty(), timeout=5) == pb.empty_pb2.Empty()
        assert _code(lambda s=stub: s.RaiseEvent(missing, timeout=5)) == grpc.StatusCode.NOT_FOUND
        assert _code(lambda s=stub: s.CompleteActivityTask(big, timeout=5)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )


def test_stream_cancel_and_close(sidecar: SidecarThread) -> None:
    engine = sidecar.sidecar.get("workflows").engine

    def workers() -> int:
        return len(engine.dispatcher.workers)

    local, stub, _ = _stubs(sidecar)
    before = workers()
    stream = stub.GetWorkItems(pb.GetWorkItemsRequest())
    deadline = time.time() + 5
    while workers() <= before and time.time() < deadline:
        time.sleep(0.01)
    assert workers() == before + 1
    local.close()  # type: ignore[attr-defined]
    assert _code(lambda: next(stream)) == grpc.StatusCode.CANCELLED
    deadline = time.time() + 5
    while workers() > before and time.time() < deadline:
        time.sleep(0.01)
    assert workers() == before  # the sidecar forgot the stream
