"""Timeline rows and rendering from TaskHub history events (GetInstanceHistory)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from dapr.ext.workflow._durabletask.internal import history_events_pb2 as h
from dapr.ext.workflow._durabletask.internal import orchestration_pb2 as o
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import StringValue
from rich.console import Console

from funchost.observability.timeline import render_timeline, timeline_from_history

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ev(event_id: int, seconds: float, **payload: object) -> h.HistoryEvent:
    ts = Timestamp()
    ts.FromDatetime(T0 + timedelta(seconds=seconds))
    return h.HistoryEvent(eventId=event_id, timestamp=ts, **payload)  # type: ignore[arg-type]


def finished_history() -> list[h.HistoryEvent]:
    s = StringValue
    return [
        ev(-1, 0, workflowStarted=h.WorkflowStartedEvent()),
        ev(
            -1,
            0,
            executionStarted=h.ExecutionStartedEvent(
                name="task_processing", input=s(value='{"task": "t1"}')
            ),
        ),
        ev(0, 0.01, taskScheduled=h.TaskScheduledEvent(name="validate", input=s(value='"t1"'))),
        ev(-1, 0.25, workflowStarted=h.WorkflowStartedEvent()),
        ev(-1, 0.25, taskCompleted=h.TaskCompletedEvent(taskScheduledId=0, result=s(value="true"))),
        ev(
            1,
            0.26,
            timerCreated=h.TimerCreatedEvent(
                name="cool-off", fireAt=Timestamp(seconds=int(T0.timestamp()) + 3600)
            ),
        ),
        ev(-1, 3600.3, timerFired=h.TimerFiredEvent(timerId=1)),
        ev(2, 3600.4, taskScheduled=h.TaskScheduledEvent(name="notify")),
        ev(
            -1,
            3601.0,
            taskFailed=h.TaskFailedEvent(
                taskScheduledId=2,
                failureDetails=o.TaskFailureDetails(
                    errorType="RuntimeError", errorMessage="smtp down"
                ),
            ),
        ),
        ev(
            -1,
            3601.5,
            eventRaised=h.EventRaisedEvent(name="approval", input=s(value='{"ok": true}')),
        ),
        ev(
            -1,
            3602.0,
            executionCompleted=h.ExecutionCompletedEvent(
                workflowStatus=1, result=s(value='"done"')
            ),
        ),
    ]


def test_rows_pair_completions_with_their_scheduling() -> None:
    rows = timeline_from_history(finished_history())
    by_kind = {(r.kind, r.name): r for r in rows}
    assert rows[1].label == "workflow started" and rows[1].name == "task_processing"
    assert rows[1].detail == '{"task":"t1"}'
    done = by_kind[("taskCompleted", "validate")]
    assert done.detail == "true" and done.took is not None and abs(done.took - 0.24) < 1e-6
    fired = by_kind[("timerFired", "cool-off")]
    assert fired.took is not None and 3600 < fired.took < 3601
    failed = by_kind[("taskFailed", "notify")]
    assert failed.detail == "RuntimeError: smtp down"
    assert rows[-1].label == "workflow ended" and rows[-1].detail == 'COMPLETED -> "done"'


def test_rendered_timeline_reads_in_order() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, color_system=None)
    render_timeline(timeline_from_history(finished_history()), console, title="wf-1")
    text = out.getvalue()
    order = [
        "workflow started",
        "activity scheduled",
        "activity completed",
        "timer created",
        "timer fired",
        "activity failed",
        "event received",
        "workflow ended",
    ]
    positions = [text.index(label) for label in order]
    assert positions == sorted(positions)
    assert "turn" not in text.split("wf-1", 1)[1].split("events,")[0]  # turns hidden by default
    assert "240ms" in text and "60.0m" in text  # activity and timer durations
    assert "smtp down" in text and "COMPLETED" in text
    assert "11 events, 2 turns" in text


def test_timer_fired_at_fire_time_and_no_negative_offsets() -> None:
    """As recorded: TimerFired stamped at creation, executionStarted before the first turn."""
    fire_at = Timestamp()
    fire_at.FromDatetime(T0 + timedelta(seconds=15))
    history = [
        ev(-1, 0.001, workflowStarted=h.WorkflowStartedEvent()),
        ev(-1, 0, executionStarted=h.ExecutionStartedEvent(name="wf")),
        ev(0, 0.002, timerCreated=h.TimerCreatedEvent(name="wait", fireAt=fire_at)),
        ev(-1, 0.002, timerFired=h.TimerFiredEvent(timerId=0, fireAt=fire_at)),
    ]
    rows = timeline_from_history(history)
    fired = rows[-1]
    assert fired.kind == "timerFired" and fired.time == T0 + timedelta(seconds=15)
    assert fired.took is not None and abs(fired.took - 14.998) < 1e-6
    out = io.StringIO()
    render_timeline(rows, Console(file=out, width=160, color_system=None))
    text = out.getvalue()
    assert "+-" not in text and "+0:00:00.000" in text and "+0:00:15.000" in text
