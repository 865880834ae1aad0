"""Every workflow pattern of the seed documents, driven by the SDK against the embedded sidecar."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from dapr.ext.workflow import WorkflowStatus

from funchost.sidecar.workflows._pb import COMPLETED

from . import _flows
from .conftest import WfEnv

pytestmark = pytest.mark.e2e


def test_task_chaining(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.chain, input="ann")
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output) == [
        "hello ann",
        "hello hello ann",
        "hello hello hello ann",
    ]
    assert _flows.calls["hello:ann"] == 1
    kinds = [e.event_type.value for e in wfenv.client.get_workflow_history(iid)]
    assert kinds.count("taskScheduled") == 3 and kinds.count("taskCompleted") == 3
    assert kinds[-1] == "executionCompleted"


def test_fan_out_fan_in_100(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.fan_out, input=100)
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output) == sum(i * i for i in range(100))


def test_monitor_continue_as_new_with_timers(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.monitor, input=0)
    wfenv.settle()
    state = wfenv.client.get_workflow_state(iid)
    assert state.runtime_status == WorkflowStatus.RUNNING
    assert state.serialized_custom_status == "checked 0"
    wfenv.advance(4 * 60)  # not due yet
    assert wfenv.client.get_workflow_state(iid).serialized_custom_status == "checked 0"
    wfenv.advance(60 * 60)  # every 5-minute timer due in the hour fires, in order
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output) == 3
    assert json.loads(state.serialized_input) == 3  # the last execution's input
    kinds = [e.event_type.value for e in wfenv.client.get_workflow_history(iid)]
    assert "timerCreated" not in kinds  # history was reset by continue-as-new
    assert kinds.count("executionStarted") == 1


def test_human_approval_event_wins(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.approval, input="o1")
    wfenv.settle()
    wfenv.client.raise_workflow_event(iid, "approval", data="approved by bob")
    state = wfenv.wait(iid)
    assert json.loads(state.serialized_output) == "o1: approved by bob"


def test_human_approval_timer_wins(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.approval, input="o2")
    wfenv.settle()
    wfenv.advance(23 * 3600)
    assert wfenv.client.get_workflow_state(iid).runtime_status == WorkflowStatus.RUNNING
    wfenv.advance(2 * 3600)
    state = wfenv.wait(iid)
    assert json.loads(state.serialized_output) == "o2: timed out"


def test_events_raised_before_awaited_are_buffered_fifo(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.waits_forever, input=None)
    wfenv.client.raise_workflow_event(iid, "other", data="o")
    wfenv.client.raise_workflow_event(iid, "go", data=1)
    wfenv.client.raise_workflow_event(iid, "go", data=2)
    state = wfenv.wait(iid)
    assert json.loads(state.serialized_output) == [1, 2, "o"]


def test_indefinite_wait_never_times_out(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.waits_forever, input=None)
    wfenv.advance(40 * 24 * 3600)
    assert wfenv.client.get_workflow_state(iid).runtime_status == WorkflowStatus.RUNNING
    for data in ("a", "b"):
        wfenv.client.raise_workflow_event(iid, "go", data=data)
    wfenv.client.raise_workflow_event(iid, "other", data="c")
    assert json.loads(wfenv.wait(iid).serialized_output) == ["a", "b", "c"]


def test_child_workflows(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.parent, input=4, instance_id="fam")
    state = wfenv.wait(iid)
    assert json.loads(state.serialized_output) == [0, 1, 4, 9]
    kid = wfenv.client.get_workflow_state("fam-c2")
    assert kid.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(kid.serialized_output) == 4


def test_activity_retry_policy_on_the_virtual_clock(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.retrying, input="k1")
    wfenv.settle()
    assert _flows.calls["flaky:k1"] == 1  # waiting for the 10 s back-off timer
    wfenv.advance(9)
    assert _flows.calls["flaky:k1"] == 1
    wfenv.advance(60)
    state = wfenv.wait(iid)
    assert json.loads(state.serialized_output) == "ok k1"
    assert _flows.calls["flaky:k1"] == 3


def test_activity_retries_exhausted_fail_the_workflow(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.retrying, input="k2")
    _flows.calls["flaky:k2"] = -10  # keeps failing past max attempts
    wfenv.advance(3600)
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.FAILED
    assert "flaky k2 failed" in state.failure_details.message


def test_child_workflow_retry_policy(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.child_retrying, input="c1")
    wfenv.advance(60)
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output) == "child ok c1"


def test_saga_compensation(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.saga, input="trip")
    state = wfenv.wait(iid)
    out = json.loads(state.serialized_output)
    assert out["compensated"] == ["trip/car", "trip/hotel"]
    assert "cannot pay trip" in out["error"]
    assert _flows.compensations[-2:] == ["trip/car", "trip/hotel"]


def test_failure_details_propagate(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.fails, input="fly")
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.FAILED
    assert "cannot fly" in state.failure_details.message
    assert state.failure_details.error_type  # e.g. TaskFailedError


def test_child_failure_reaches_the_parent(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.parent_of_failure, input="swim")
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert "cannot swim" in json.loads(state.serialized_output)
    assert wfenv.client.get_workflow_state(f"{iid}-kid").runtime_status == WorkflowStatus.FAILED


def test_patches_are_recorded_for_replay(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.patched)
    assert json.loads(wfenv.wait(iid).serialized_output) == [True, True]


def test_purge_by_filter(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.chain, input="pf")
    wfenv.wait(iid)

    async def purge() -> int:
        return wfenv.engine.purge_where(None, None, {COMPLETED}, True)

    assert wfenv.thread.call(purge()) >= 1
    assert wfenv.client.get_workflow_state(iid) is None


def test_suspend_resume_terminate_purge(wfenv: WfEnv) -> None:
    c = wfenv.client
    iid = c.schedule_new_workflow(_flows.approval, input="s1")
    wfenv.settle()
    c.pause_workflow(iid)
    assert c.get_workflow_state(iid).runtime_status == WorkflowStatus.SUSPENDED
    c.raise_workflow_event(iid, "approval", data="late")
    wfenv.settle()
    assert c.get_workflow_state(iid).runtime_status == WorkflowStatus.SUSPENDED
    c.resume_workflow(iid)
    # the buffered event is delivered on resume, so the instance may already have completed:
    # what resume guarantees is that it is no longer suspended, then that it completes
    resumed = c.get_workflow_state(iid).runtime_status
    assert resumed in (WorkflowStatus.RUNNING, WorkflowStatus.COMPLETED), resumed
    assert json.loads(wfenv.wait(iid).serialized_output) == "s1: late"

    iid2 = c.schedule_new_workflow(_flows.approval, input="s2")
    with pytest.raises(Exception, match=r"only completed"):
        c.purge_workflow(iid2)
    c.terminate_workflow(iid2, output="stopped")
    state = wfenv.wait(iid2)
    assert state.runtime_status == WorkflowStatus.TERMINATED
    c.purge_workflow(iid2)
    assert c.get_workflow_state(iid2) is None


def test_recursive_terminate_and_purge(wfenv: WfEnv) -> None:
    c = wfenv.client
    iid = c.schedule_new_workflow(_flows.parent_of_sleepers, instance_id="tree")
    wfenv.settle()
    assert c.get_workflow_state("tree-kid").runtime_status == WorkflowStatus.RUNNING
    c.terminate_workflow(iid)
    assert wfenv.wait(iid).runtime_status == WorkflowStatus.TERMINATED
    assert wfenv.wait("tree-kid").runtime_status == WorkflowStatus.TERMINATED
    c.purge_workflow(iid)
    assert c.get_workflow_state(iid) is None
    assert c.get_workflow_state("tree-kid") is None


def test_start_options_and_queries(wfenv: WfEnv) -> None:
    c = wfenv.client
    iid = c.schedule_new_workflow(
        _flows.chain,
        input="sched",
        instance_id="later-1",
        start_at=wfenv.clock.now() + __import__("datetime").timedelta(minutes=10),
    )
    assert iid == "later-1"
    wfenv.settle()
    pending = c.get_workflow_state(iid)
    assert pending.runtime_status == WorkflowStatus.PENDING
    # timestamps come from the sidecar's (virtual) clock
    created = pending.created_at.replace(tzinfo=UTC)  # the SDK returns naive UTC
    assert abs(created.timestamp() - wfenv.clock.time()) < 1
    with pytest.raises(Exception, match="already exists"):
        c.schedule_new_workflow(_flows.chain, input="x", instance_id="later-1")
    wfenv.advance(11 * 60)
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    bare = c.get_workflow_state(iid, fetch_payloads=False)
    assert bare.serialized_output is None and bare.serialized_input is None
    assert c.get_workflow_state("no-such-instance") is None
    # a completed id can be reused
    c.schedule_new_workflow(_flows.chain, input="again", instance_id="later-1")
    assert json.loads(wfenv.wait("later-1").serialized_input) == "again"
    ids = list(c.iter_workflow_instance_ids(page_size=2))
    assert "later-1" in ids and len(ids) == len(set(ids))


def test_wait_for_start(wfenv: WfEnv) -> None:
    iid = wfenv.client.schedule_new_workflow(_flows.waits_forever)
    state = wfenv.client.wait_for_workflow_start(iid, timeout_in_seconds=10)
    assert state.runtime_status == WorkflowStatus.RUNNING
    wfenv.client.terminate_workflow(iid)
    assert wfenv.wait(iid).runtime_status == WorkflowStatus.TERMINATED


def test_worker_reconnect_redispatches_in_flight_work(wfenv: WfEnv) -> None:
    """The sidecar ends the worker's stream mid-workflow; the SDK reconnects and gets the work."""
    engine = wfenv.engine
    iid = wfenv.client.schedule_new_workflow(_flows.chain, input="rc")

    async def close_streams() -> int:
        conns = list(engine.dispatcher.workers)
        for conn in conns:
            engine.close_worker(conn)
        return len(conns)

    assert wfenv.thread.call(close_streams()) >= 1
    state = wfenv.wait(iid)
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output)[-1] == "hello hello hello rc"
