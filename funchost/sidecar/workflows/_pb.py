"""Protobuf shortcuts: the vendored durabletask messages, timestamps and event constructors."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2, wrappers_pb2

from .._workflow_protos import pb, pbg

__all__ = [
    "FOREVER",
    "TERMINAL",
    "new_trace_context",
    "pb",
    "pbg",
    "started_event",
    "sv",
    "sv_or_none",
    "trace_context",
    "trace_of",
    "ts",
    "ts_seconds",
]

RUNNING: int = pb.ORCHESTRATION_STATUS_RUNNING
COMPLETED: int = pb.ORCHESTRATION_STATUS_COMPLETED
FAILED: int = pb.ORCHESTRATION_STATUS_FAILED
TERMINATED: int = pb.ORCHESTRATION_STATUS_TERMINATED
CONTINUED_AS_NEW: int = pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
PENDING: int = pb.ORCHESTRATION_STATUS_PENDING
SUSPENDED: int = pb.ORCHESTRATION_STATUS_SUSPENDED
STALLED: int = pb.ORCHESTRATION_STATUS_STALLED
TERMINAL: frozenset[int] = frozenset({COMPLETED, FAILED, TERMINATED})

# A timer at or after this instant is a "wait forever" timer (9999-12-31): it never fires.
FOREVER = datetime(9999, 1, 1, tzinfo=UTC).timestamp()

STATUS_NAMES: dict[int, str] = {
    RUNNING: "RUNNING",
    COMPLETED: "COMPLETED",
    FAILED: "FAILED",
    TERMINATED: "TERMINATED",
    CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
    PENDING: "PENDING",
    SUSPENDED: "SUSPENDED",
    STALLED: "STALLED",
    pb.ORCHESTRATION_STATUS_CANCELED: "CANCELED",
}


def ts(seconds: float) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for epoch seconds."""
    t = timestamp_pb2.Timestamp()
    t.FromNanoseconds(round(seconds * 1e9))
    return t


def ts_seconds(t: timestamp_pb2.Timestamp) -> float:
    """Epoch seconds of a protobuf Timestamp."""
    return t.seconds + t.nanos / 1e9


def sv(value: str) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=value)


def sv_or_none(value: str | None) -> wrappers_pb2.StringValue | None:
    return None if value is None else wrappers_pb2.StringValue(value=value)


def event(now: float, event_id: int = -1, **kind: object) -> pb.HistoryEvent:
    """A HistoryEvent with one event type set, e.g. `event(now, eventRaised=...)`."""
    return pb.HistoryEvent(eventId=event_id, timestamp=ts(now), **kind)  # type: ignore[arg-type]


def failure(error_type: str, message: str) -> pb.TaskFailureDetails:
    return pb.TaskFailureDetails(errorType=error_type, errorMessage=message)


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_context(traceparent: str | None, tracestate: str | None = None) -> pb.TraceContext | None:
    """A `TraceContext` for a W3C `traceparent` (+ `tracestate`); None when absent or malformed."""
    if not traceparent or not _TRACEPARENT.match(traceparent.strip().lower()):
        return None
    state = sv(tracestate) if tracestate else None
    return pb.TraceContext(traceParent=traceparent.strip().lower(), traceState=state)


def new_trace_context() -> pb.TraceContext:
    """A fresh sampled root trace, for an instance started without one (daprd opens a span)."""
    return pb.TraceContext(traceParent=f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01")


def trace_of(
    message: object | None = None, headers: Iterable[tuple[str, str]] = ()
) -> pb.TraceContext | None:
    """The caller's trace context: `message.parentTraceContext` when set, else the
    `traceparent` / `tracestate` headers (gRPC metadata or HTTP), as daprd takes it."""
    if message is not None and message.HasField("parentTraceContext"):  # type: ignore[attr-defined]
        given: pb.TraceContext = message.parentTraceContext  # type: ignore[attr-defined]
        if given.traceParent:
            return given
    found = {k.lower(): v for k, v in headers if k.lower() in ("traceparent", "tracestate")}
    return trace_context(found.get("traceparent"), found.get("tracestate"))


def started_event(history: Iterable[pb.HistoryEvent]) -> pb.ExecutionStartedEvent | None:
    """The `executionStarted` event of a history, if it has one."""
    for ev in history:
        if ev.HasField("executionStarted"):
            return ev.executionStarted
    return None
