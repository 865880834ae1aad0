"""Cross-app workflows end to end: `call_activity(..., app_id=)` and `call_child_workflow(...,
app_id=)` run in the target app's worker (its own `funchost sidecar`), results and failures come
back, the parent waits for a target that is not there yet, a kill -9 of the target mid-activity
loses nothing and re-runs nothing that completed, terminate and purge recurse across apps.

Real processes on loopback (one sidecar + one SDK worker per app, a private name registry);
waits are real time: the two sidecars are separate processes, each on its own clock.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus

from .conftest import HERE, Apps

WF_APP = HERE / "wf_app.py"


class WfApp:
    """One app: `funchost sidecar` (no app port) and the workflow worker of wf_app.py."""

    def __init__(self, apps: Apps, app_id: str, **env: str) -> None:
        self.apps, self.app_id, self.env = apps, app_id, env
        self.start()

    def start(self) -> None:
        args = self.apps.sidecar_args(self.app_id, None, None)
        self.sidecar = self.apps.spawn(args, f"{self.app_id}-sidecar.log")
        self.address = self.apps.wait_registered(self.app_id, self.sidecar)
        self.worker = self.apps.spawn(
            [sys.executable, str(WF_APP)],
            f"{self.app_id}-app.log",
            APP_ID=self.app_id,
            DAPR_GRPC_PORT=str(self.address.grpc_port),
            **self.env,
        )

    def kill9(self) -> None:
        for proc in (self.worker, self.sidecar):
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def client(self) -> DaprWorkflowClient:
        return DaprWorkflowClient(host="127.0.0.1", port=str(self.address.grpc_port))


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _runs(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _done(client: DaprWorkflowClient, iid: str, timeout: float = 60) -> Any:
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=int(timeout))
    assert state is not None
    return state


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs.txt"


def test_activity_and_child_run_in_the_target_app(apps: Apps, runs: Path) -> None:
    a = WfApp(apps, "wf-a", WF_TARGET="wf-b", WF_RUNS=str(runs))
    WfApp(apps, "wf-b", WF_RUNS=str(runs))
    client = a.client()
    iid = client.schedule_new_workflow("parent", input="x", instance_id="p-1")
    state = _done(client, iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED, apps.log("wf-a-sidecar.log")
    assert json.loads(state.serialized_output) == {
        "remote": "wf-b:x",
        "child": {"child_app": "wf-b", "activity": "wf-b:x"},
        "local": "wf-a:x",
    }
    assert sorted(_runs(runs)) == ["wf-a where x", "wf-b where x", "wf-b where x"]


def test_remote_failure_comes_back_with_its_details(apps: Apps) -> None:
    a = WfApp(apps, "wf-a", WF_TARGET="wf-b")
    WfApp(apps, "wf-b")
    client = a.client()
    state = _done(client, client.schedule_new_workflow("parent_fail", input="y"))
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert "boom in wf-b: y" in json.loads(state.serialized_output)


def test_an_activity_the_target_does_not_register_fails_there(apps: Apps, runs: Path) -> None:
    a = WfApp(apps, "wf-a", WF_TARGET="wf-b", WF_RUNS=str(runs))
    WfApp(apps, "wf-b", WF_RUNS=str(runs))
    client = a.client()
    state = _done(client, client.schedule_new_workflow("parent_missing", input="m"))
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert "'child' was not registered" in json.loads(state.serialized_output)
    assert _runs(runs) == []


def test_parent_killed_while_its_activity_runs_elsewhere(
    apps: Apps, runs: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    a = WfApp(apps, "wf-a", WF_TARGET="wf-b", WF_RUNS=str(runs))
    WfApp(apps, "wf-b", WF_RUNS=str(runs), WF_GATE=str(gate))
    iid = a.client().schedule_new_workflow("parent_slow", input="p", instance_id="pk-1")
    _until(lambda: "wf-b slow-start p" in _runs(runs), 30, "the slow activity to start")
    a.kill9()
    gate.touch()  # the result waits in wf-b's outbox until wf-a is back
    _until(lambda: "wf-b slow-done p" in _runs(runs), 30, "the slow activity to finish")
    a.start()
    state = _done(a.client(), iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED, apps.log("wf-a-sidecar.log")
    assert json.loads(state.serialized_output) == ["wf-b:p-first", "wf-b:slow:p"]
    lines = _runs(runs)
    assert lines.count("wf-b where p-first") == 1 and lines.count("wf-b slow-start p") == 1


def test_parent_waits_for_a_target_started_later(apps: Apps, runs: Path) -> None:
    a = WfApp(apps, "wf-a", WF_TARGET="wf-late", WF_RUNS=str(runs))
    client = a.client()
    started = time.monotonic()
    iid = client.schedule_new_workflow("parent", input="z", instance_id="late-1")

    def waiting() -> str:
        state = client.get_workflow_state(iid)
        return state.serialized_custom_status if state is not None else ""

    note = _until(waiting, 15, "the waiting note")
    assert "waiting for app 'wf-late'" in note and "not registered" in note
    assert client.get_workflow_state(iid).runtime_status == WorkflowStatus.RUNNING
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))  # the target comes 10 s later
    WfApp(apps, "wf-late", WF_RUNS=str(runs))
    state = _done(client, iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output)["remote"] == "wf-late:z"
    assert not state.serialized_custom_status  # the note goes once delivered


def test_target_killed_mid_activity_completes_after_restart(
    apps: Apps, runs: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    a = WfApp(apps, "wf-a", WF_TARGET="wf-b", WF_RUNS=str(runs))
    b = WfApp(apps, "wf-b", WF_RUNS=str(runs), WF_GATE=str(gate))
    client = a.client()
    iid = client.schedule_new_workflow("parent_slow", input="k", instance_id="kill-1")
    _until(lambda: "wf-b slow-start k" in _runs(runs), 30, "the slow activity to start")
    b.kill9()
    gate.touch()
    b.start()
    state = _done(client, iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED, apps.log("wf-b-sidecar.log")
    assert json.loads(state.serialized_output) == ["wf-b:k-first", "wf-b:slow:k"]
    lines = _runs(runs)
    assert lines.count("wf-b where k-first") == 1  # completed before the kill: never again
    assert lines.count("wf-b slow-done k") == 1


def test_terminate_and_purge_recurse_into_the_other_app(apps: Apps) -> None:
    a = WfApp(apps, "wf-a", WF_TARGET="wf-b")
    b = WfApp(apps, "wf-b")
    ca, cb = a.client(), b.client()
    iid = ca.schedule_new_workflow("parent_wait", input="kid-1", instance_id="p-wait")

    def child_running() -> bool:
        state = cb.get_workflow_state("kid-1")
        return state is not None and state.runtime_status == WorkflowStatus.RUNNING

    _until(child_running, 30, "the child in wf-b")
    assert cb.get_workflow_state("kid-1").instance_id == "kid-1"
    ca.terminate_workflow(iid)  # recursive by default
    assert _done(ca, iid).runtime_status == WorkflowStatus.TERMINATED

    def child_terminated() -> bool:
        state = cb.get_workflow_state("kid-1")
        return state is not None and state.runtime_status == WorkflowStatus.TERMINATED

    _until(child_terminated, 30, "the child to be terminated")
    ca.purge_workflow(iid)
    _until(lambda: cb.get_workflow_state("kid-1") is None, 30, "the child to be purged")
