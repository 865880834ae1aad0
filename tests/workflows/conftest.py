"""One embedded sidecar (virtual clock) + one SDK WorkflowRuntime shared by the module's tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dapr.ext.workflow as wf
import pytest

from funchost.sidecar import free_port
from funchost.sidecar.clock import VirtualClock
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread

from . import _flows


@dataclass
class WfEnv:
    sidecar: Sidecar
    thread: SidecarThread
    clock: VirtualClock
    client: wf.DaprWorkflowClient
    runtime: wf.WorkflowRuntime

    def settle(self) -> None:
        """Wait until the sidecar has nothing in flight (turns, activities, due timers)."""
        self.thread.call(self.sidecar.idle())

    def advance(self, seconds: float) -> None:
        """Move the virtual clock, firing workflow timers due on the way."""
        self.settle()
        self.thread.call(self.clock.advance(seconds))
        self.settle()

    def wait(self, iid: str, timeout: int = 30) -> Any:
        state = self.client.wait_for_workflow_completion(iid, timeout_in_seconds=timeout)
        assert state is not None
        return state

    @property
    def engine(self) -> Any:
        return self.sidecar.get("workflows").engine


@pytest.fixture(scope="package", params=["grpc", "local"])
def wfenv(request: pytest.FixtureRequest) -> Iterator[WfEnv]:
    """The worker reaches the sidecar over loopback gRPC, or in-process as in `funchost run`
    (`LocalTaskHub`): every workflow test runs both ways."""
    logging.getLogger("durabletask-worker").setLevel(logging.WARNING)
    _flows.calls.clear()  # counted per environment
    _flows.compensations.clear()
    clock = VirtualClock()
    sidecar = Sidecar(SidecarConfig(http_port=free_port(), grpc_port=0), clock=clock)
    thread = SidecarThread(sidecar)
    thread.start()
    port = str(sidecar.config.grpc_port)
    local = thread.local_taskhub().interceptor() if request.param == "local" else None
    runtime = wf.WorkflowRuntime(
        host="127.0.0.1", port=port, interceptors=[local] if local is not None else None
    )
    _flows.register(runtime)
    runtime.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)
    try:
        yield WfEnv(sidecar, thread, clock, client, runtime)
    finally:
        client.close()
        if local is not None:
            local.close()
        runtime.shutdown()
        thread.stop()
