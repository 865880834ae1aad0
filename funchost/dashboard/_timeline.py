"""A workflow history as bars for the dashboard's instance page.

Built on `funchost.observability.timeline.timeline_from_history` (the rows `funchost workflow
history` prints): each completion row knows its name and how long it took, so its bar runs from
`time - took` to `time`; what was scheduled and never completed is an open bar up to `now`.
Activities that run again after a failure get `attempt` 2, 3... (the unnamed timer the worker
creates between attempts is a "retry delay"); child workflows carry their instance id so the
page can nest the child's own bars under them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from funchost.observability.timeline import TimelineEntry, timeline_from_history

__all__ = ["timeline_document"]

_OPENERS = {
    "taskScheduled": "activity",
    "childWorkflowInstanceCreated": "child",
    "timerCreated": "timer",
}
_CLOSERS = {
    "taskCompleted": ("activity", "completed"),
    "taskFailed": ("activity", "failed"),
    "childWorkflowInstanceCompleted": ("child", "completed"),
    "childWorkflowInstanceFailed": ("child", "failed"),
    "timerFired": ("timer", "completed"),
}
_MARKERS = {
    "executionStarted",
    "executionCompleted",
    "executionTerminated",
    "executionSuspended",
    "executionResumed",
    "executionStalled",
    "eventRaised",
    "eventSent",
    "continueAsNew",
}


def _ms(when: datetime, origin: datetime) -> float:
    return round((when - origin).total_seconds() * 1000, 3)


def _children(events: Iterable[Any]) -> dict[int, str]:
    """eventId of each childWorkflowInstanceCreated -> the child's instance id."""
    out: dict[int, str] = {}
    for ev in events:
        if ev.WhichOneof("eventType") == "childWorkflowInstanceCreated":
            out[ev.eventId] = ev.childWorkflowInstanceCreated.instanceId
    return out


def timeline_document(events: list[Any], now: datetime) -> dict[str, Any]:
    """JSON for the instance page: `rows` (the CLI's timeline), `bars`, `markers`, in ms."""
    entries: list[TimelineEntry] = timeline_from_history(events)
    rows = [e for e in entries if not e.is_turn]
    if not entries:
        return {"origin": None, "span": 0, "rows": [], "bars": [], "markers": []}
    origin = min(e.time for e in entries)
    children = _children(events)
    opened: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    bars: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    attempts: dict[str, int] = {}
    previous: TimelineEntry | None = None
    for e in rows:
        after_failure = previous is not None and previous.kind == "taskFailed"
        previous = e
        if e.kind in _OPENERS:
            kind = _OPENERS[e.kind]
            forever = kind == "timer" and e.detail == "waits forever"
            unnamed = "retry delay" if kind == "timer" and after_failure else "timer"
            attempt = 1
            if kind == "activity":
                attempt = attempts[e.name] = attempts.get(e.name, 0) + 1
            bar = {
                "kind": kind,
                "name": e.name or ("external event" if forever else unnamed),
                "start": _ms(e.time, origin),
                "end": None,
                "status": "waiting" if forever else "running",
                "detail": e.detail,
                "result": "",
                "attempt": attempt,
                "eventId": e.event_id,
                "childInstanceId": children.get(e.event_id) if kind == "child" else None,
            }
            opened[(kind, e.name, e.time)] = bar
            bars.append(bar)
        elif e.kind in _CLOSERS and e.took is not None:
            kind, status = _CLOSERS[e.kind]
            started = e.time.timestamp() - e.took
            match = next(
                (
                    b
                    for (k, n, t), b in opened.items()
                    if k == kind
                    and n == e.name
                    and abs(t.timestamp() - started) < 1e-3
                    and b["end"] is None
                ),
                None,
            )
            if match is not None:
                match.update(end=_ms(e.time, origin), status=status, result=e.detail)
        elif e.kind in _MARKERS:
            markers.append(
                {
                    "kind": e.kind,
                    "label": e.label,
                    "name": e.name,
                    "detail": e.detail,
                    "at": _ms(e.time, origin),
                }
            )
    last = max(e.time for e in entries)
    finished = any(m["kind"] in ("executionCompleted", "executionTerminated") for m in markers)
    span = _ms(last if finished else max(last, now), origin)
    for bar in bars:
        if bar["end"] is None:
            bar["end"] = span
            bar["open"] = True
    return {
        "origin": origin.isoformat(),
        "span": span,
        "rows": [
            {
                "at": _ms(e.time, origin),
                "time": e.time.isoformat(),
                "event": e.kind,
                "label": e.label,
                "name": e.name,
                "detail": e.detail,
                "took": e.took,
            }
            for e in rows
        ],
        "bars": bars,
        "markers": markers,
    }
