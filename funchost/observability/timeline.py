"""A workflow's history as a readable timeline (`funchost workflow history ID`).

`timeline_from_history()` turns the TaskHub `HistoryEvent` protobufs (GetInstanceHistory) into
plain `TimelineEntry` rows: what happened, to which activity / timer / event / child, with its
input or result and, for completions, how long the task took. `render_timeline()` prints them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.text import Text

__all__ = ["TimelineEntry", "render_timeline", "timeline_from_history"]

_LABELS = {
    "executionStarted": "workflow started",
    "executionCompleted": "workflow ended",
    "executionTerminated": "workflow terminated",
    "executionSuspended": "workflow suspended",
    "executionResumed": "workflow resumed",
    "executionStalled": "workflow stalled",
    "continueAsNew": "continued as new",
    "taskScheduled": "activity scheduled",
    "taskCompleted": "activity completed",
    "taskFailed": "activity failed",
    "timerCreated": "timer created",
    "timerFired": "timer fired",
    "eventRaised": "event received",
    "eventSent": "event sent",
    "childWorkflowInstanceCreated": "child workflow started",
    "childWorkflowInstanceCompleted": "child workflow completed",
    "childWorkflowInstanceFailed": "child workflow failed",
    "detachedWorkflowInstanceCreated": "detached workflow started",
    "workflowStarted": "turn",
    "workflowCompleted": "turn done",
}
_STATUS = {0: "RUNNING", 1: "COMPLETED", 2: "CONTINUED_AS_NEW", 3: "FAILED", 4: "CANCELED"}
_STATUS |= {5: "TERMINATED", 6: "PENDING", 7: "SUSPENDED", 8: "STALLED"}
_STYLE = {"failed": "red", "terminated": "red", "completed": "green", "ended": "bold"}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One row of a timeline."""

    time: datetime
    kind: str  # the history event type, e.g. "taskCompleted"
    label: str  # readable, e.g. "activity completed"
    name: str = ""  # activity / timer / event / child workflow name
    detail: str = ""  # input, result, failure or fire time
    event_id: int = -1
    took: float | None = None  # seconds from scheduling to completion (tasks, timers, children)

    @property
    def is_turn(self) -> bool:
        return self.kind in ("workflowStarted", "workflowCompleted")


def _short(value: str, limit: int = 80) -> str:
    value = value.strip()
    with contextlib.suppress(ValueError):
        value = json.dumps(json.loads(value), separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _wrapped(msg: Any, name: str) -> str:
    """The string inside a google.protobuf.StringValue field, or ''."""
    if msg is None or not msg.HasField(name):
        return ""
    return str(getattr(msg, name).value)


def _failure(details: Any) -> str:
    if details is None:
        return ""
    kind = getattr(details, "errorType", "") or "error"
    return f"{kind}: {getattr(details, 'errorMessage', '')}".strip()


def _ts(proto_ts: Any) -> datetime:
    return proto_ts.ToDatetime().replace(tzinfo=UTC)


def _since(origin: tuple[str, datetime] | None, when: datetime) -> tuple[str, float | None]:
    """(name, seconds since it was scheduled) of what a completion completes, if known."""
    if origin is None:
        return "", None
    return origin[0], (when - origin[1]).total_seconds()


def timeline_from_history(events: Iterable[Any]) -> list[TimelineEntry]:
    """Timeline rows from `HistoryEvent` protobufs, oldest first; completions get `took`."""
    out: list[TimelineEntry] = []
    scheduled: dict[tuple[str, int], tuple[str, datetime]] = {}
    for ev in events:
        kind = ev.WhichOneof("eventType") or "unknown"
        payload: Any = getattr(ev, kind) if kind != "unknown" else None
        when = _ts(ev.timestamp)
        name, detail, took = "", "", None
        if kind == "executionStarted":
            name, detail = payload.name, _short(_wrapped(payload, "input"))
        elif kind == "executionCompleted":
            status = _STATUS.get(payload.workflowStatus, str(payload.workflowStatus))
            result = _short(_wrapped(payload, "result"))
            failure = _failure(payload.failureDetails) if payload.HasField("failureDetails") else ""
            detail = (
                f"{status}"
                + (f" -> {result}" if result else "")
                + (f" {failure}" if failure else "")
            )
        elif kind == "executionTerminated":
            detail = _short(_wrapped(payload, "input"))
        elif kind in ("taskScheduled", "childWorkflowInstanceCreated"):
            name, detail = payload.name, _short(_wrapped(payload, "input"))
            scheduled[("task", ev.eventId)] = (payload.name, when)
        elif kind in (
            "taskCompleted",
            "childWorkflowInstanceCompleted",
            "taskFailed",
            "childWorkflowInstanceFailed",
        ):
            name, took = _since(scheduled.get(("task", payload.taskScheduledId)), when)
            if kind.endswith("Failed"):
                detail = _failure(payload.failureDetails)
            else:
                detail = _short(_wrapped(payload, "result"))
        elif kind == "timerCreated":
            fire = _ts(payload.fireAt)
            name = payload.name
            detail = "waits forever" if fire.year >= 9999 else f"fires at {fire:%Y-%m-%d %H:%M:%S}Z"
            scheduled[("timer", ev.eventId)] = (payload.name, when)
        elif kind == "timerFired":
            # daprd (and the embedded sidecar) stamp the TimerFired message when the timer is
            # created; it fires at fireAt
            if payload.HasField("fireAt"):
                when = max(when, _ts(payload.fireAt))
            name, took = _since(scheduled.get(("timer", payload.timerId)), when)
            detail = f"timer #{payload.timerId}"
        elif kind in ("eventRaised", "eventSent"):
            name, detail = payload.name, _short(_wrapped(payload, "input"))
        out.append(
            TimelineEntry(when, kind, _LABELS.get(kind, kind), name, detail, ev.eventId, took)
        )
    return out


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _offset(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"+{hours}:{minutes:02d}:{rest / 1000:06.3f}"


def render_timeline(
    entries: list[TimelineEntry],
    console: Console,
    *,
    title: str = "",
    turns: bool = False,
) -> None:
    """Print the timeline as a table: offset from start, time, what, name, detail, duration."""
    from rich.table import Table  # the CLI's rendering only: the dashboard does not load it

    table = Table(title=title or None, show_edge=False, header_style="bold", pad_edge=False)
    for column in ("since start", "time (UTC)", "event", "name", "detail", "took"):
        table.add_column(column, justify="right" if column in ("since start", "took") else "left")
    # the client stamps executionStarted before the first turn begins: start at the earliest
    start = min(e.time for e in entries) if entries else None
    for entry in entries:
        if entry.is_turn and not turns:
            continue
        offset = _offset((entry.time - start).total_seconds()) if start else ""
        style = next((s for word, s in _STYLE.items() if word in entry.label), "")
        if "FAILED" in entry.detail or "TERMINATED" in entry.detail:
            style = "red"
        table.add_row(
            offset,
            entry.time.strftime("%H:%M:%S.%f")[:-3],
            Text(entry.label, style=style),
            entry.name,
            entry.detail,
            _duration(entry.took) if entry.took is not None else "",
        )
    console.print(table)
    if entries:
        total = (entries[-1].time - entries[0].time).total_seconds()
        count = sum(1 for e in entries if e.kind == "workflowStarted")
        console.print(
            f"{len(entries)} events, {count} turns, {_duration(total)} from first to last"
        )
