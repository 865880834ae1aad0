"""The instance page's bars, from TaskHub history events (table-style checks, no processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dapr.ext.workflow._durabletask.internal import history_events_pb2 as h
from dapr.ext.workflow._durabletask.internal import orchestration_pb2 as o
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import StringValue

from funchost.dashboard._timeline import timeline_document

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ev(event_id: int, seconds: float, **payload: object) -> h.HistoryEvent:
    ts = Timestamp()
    ts.FromDatetime(T0 + timedelta(seconds=seconds))
    return h.HistoryEvent(eventId=event_id, timestamp=ts, **payload)  # type: ignore[arg-type]


def fire_at(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(T0 + timedelta(seconds=seconds))
    return ts


FOREVER = Timestamp()
FOREVER.FromDatetime(datetime(9999, 12, 31, tzinfo=UTC))  # wait_for_external_event
FAILURE = o.TaskFailureDetails(errorType="RuntimeError", errorMessage="smtp down")
HISTORY = [
    ev(-1, 0, executionStarted=h.ExecutionStartedEvent(name="order", input=StringValue(value="1"))),
    ev(-1, 0, workflowStarted=h.WorkflowStartedEvent()),
    ev(0, 0.1, taskScheduled=h.TaskScheduledEvent(name="notify")),
    ev(-1, 0.5, taskFailed=h.TaskFailedEvent(taskScheduledId=0, failureDetails=FAILURE)),
    ev(1, 0.5, timerCreated=h.TimerCreatedEvent(fireAt=fire_at(1.5))),
    ev(-1, 0.5, timerFired=h.TimerFiredEvent(timerId=1, fireAt=fire_at(1.5))),
    ev(2, 1.6, taskScheduled=h.TaskScheduledEvent(name="notify")),
    ev(-1, 2.0, taskCompleted=h.TaskCompletedEvent(taskScheduledId=2)),
    ev(
        3,
        2.1,
        childWorkflowInstanceCreated=h.ChildWorkflowInstanceCreatedEvent(
            name="ship", instanceId="order-1-ship"
        ),
    ),
    ev(
        -1,
        3.0,
        childWorkflowInstanceCompleted=h.ChildWorkflowInstanceCompletedEvent(taskScheduledId=3),
    ),
    ev(4, 3.1, timerCreated=h.TimerCreatedEvent(name="approval", fireAt=FOREVER)),
    ev(-1, 4.0, eventRaised=h.EventRaisedEvent(name="approval")),
]


def test_bars_for_retries_timers_children_and_waits() -> None:
    doc = timeline_document(HISTORY, T0 + timedelta(seconds=5))
    got = [
        (b["kind"], b["name"], b["status"], b["attempt"], b["start"], b["end"]) for b in doc["bars"]
    ]
    assert got == [
        ("activity", "notify", "failed", 1, 100.0, 500.0),
        ("timer", "retry delay", "completed", 1, 500.0, 1500.0),
        ("activity", "notify", "completed", 2, 1600.0, 2000.0),
        ("child", "ship", "completed", 1, 2100.0, 3000.0),
        ("timer", "approval", "waiting", 1, 3100.0, 5000.0),  # open: up to now
    ]
    assert doc["bars"][0]["result"] == "RuntimeError: smtp down"
    assert doc["bars"][3]["childInstanceId"] == "order-1-ship"
    assert doc["bars"][4]["open"] is True
    assert [m["kind"] for m in doc["markers"]] == ["executionStarted", "eventRaised"]
    assert doc["span"] == 5000.0
    assert all(r["event"] != "workflowStarted" for r in doc["rows"])  # turns are not shown


def test_a_finished_instance_spans_to_its_last_event() -> None:
    done = ev(-1, 4.5, executionCompleted=h.ExecutionCompletedEvent(workflowStatus=1))
    doc = timeline_document([*HISTORY, done], T0 + timedelta(hours=1))
    assert doc["span"] == 4500.0


def test_no_history() -> None:
    assert timeline_document([], T0)["bars"] == []
