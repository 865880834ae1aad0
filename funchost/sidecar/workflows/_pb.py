"""Protobuf shortcuts: the vendored durabletask messages, timestamps and event constructors."""

from __future__ import annotations

from datetime import UTC, datetime

import dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc as pbg
import dapr.ext.workflow._durabletask.internal.protos as pb
from google.protobuf import timestamp_pb2, wrappers_pb2

__all__ = ["FOREVER", "TERMINAL", "pb", "pbg", "sv", "sv_or_none", "ts", "ts_seconds"]

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
