"""The app's workflow worker limits: settings, the Dapr Configuration, and what they allow."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from funchost.settings import Settings
from funchost.sidecar import free_port
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread
from funchost.wiring.workflow_limits import UNLIMITED, worker_limits

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: appconfig}
spec:
  workflow:
    maxConcurrentWorkflowInvocations: 7
    maxConcurrentActivityInvocations: 0
"""


def test_defaults_suit_io_bound_activities() -> None:
    limits = worker_limits(Settings())
    assert limits.activities >= 1000 and limits.workflows >= 1000
    assert limits.runtime_kwargs()["maximum_concurrent_activity_work_items"] == limits.activities


def test_configuration_then_explicit_settings(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("FUNCHOST_CONFIG", str(path))
    limits = worker_limits(Settings())
    assert limits.workflows == 7
    assert limits.activities == UNLIMITED  # <= 0 means no limit, as with daprd
    monkeypatch.setenv("FUNCHOST_WORKFLOW_MAX_CONCURRENT_WORKFLOWS", "3")
    assert worker_limits(Settings()).workflows == 3


def test_unreadable_configuration_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FUNCHOST_CONFIG"):
        worker_limits(Settings(config=str(tmp_path / "missing.yaml")))


# -- the defaults let more activities run at once than the SDK's own cap (100 x cpu_count) ----

N = 300
_lock = threading.Lock()
_arrived = 0


async def barrier(ctx: Any, i: int) -> bool:
    """Wait until all N activities are in flight at once (True), or give up after 60 s."""
    global _arrived
    with _lock:
        _arrived += 1
    deadline = time.monotonic() + 60.0  # a safety net against a hang, not a timing assertion
    while _arrived < N and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return _arrived >= N


def fan(ctx: Any, n: int) -> Any:
    results = yield wf.when_all([ctx.call_activity(barrier, input=i) for i in range(n)])
    return all(results)


def test_default_limits_run_300_activities_at_once() -> None:
    sidecar = Sidecar(SidecarConfig(http_port=free_port(), grpc_port=0))
    thread = SidecarThread(sidecar)
    thread.start()
    port = str(sidecar.config.grpc_port)
    runtime = wf.WorkflowRuntime(
        host="127.0.0.1", port=port, **worker_limits(Settings()).runtime_kwargs()
    )
    runtime.register_workflow(fan, name="fan")
    runtime.register_activity(barrier, name="barrier")
    runtime.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)
    try:
        iid = client.schedule_new_workflow(fan, input=N)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
        assert state is not None and state.serialized_output == "true"
    finally:
        client.close()
        runtime.shutdown()
        thread.stop()
