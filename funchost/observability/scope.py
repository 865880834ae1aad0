"""The invocation in progress, carried in a context variable along the dispatch path.

The dispatch path (the observability middleware for HTTP callbacks, the activity wrapper for
workflow activities, or the host's own code) opens an `invocation(...)` scope; log lines, metrics,
spans and outgoing calls (publish, invoke, workflow start) read it. `outgoing_metadata()` is what
an outgoing publish passes as metadata so the trace continues in the next CloudEvent.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ._traceparent import TraceContext, new_trace, parse_traceparent

__all__ = [
    "Invocation",
    "current",
    "current_trace",
    "invocation",
    "outgoing_metadata",
    "outgoing_traceparent",
]


@dataclass(slots=True)
class Invocation:
    """What runs now: which function, why (trigger kind and ids), which attempt, which trace."""

    function: str
    kind: str
    event_id: str | None = None
    instance_id: str | None = None
    actor_id: str | None = None
    attempt: int = 1
    trace: TraceContext | None = None
    parent: TraceContext | None = None
    outcome: str = "success"
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_id(self) -> str | None:
        return self.trace.trace_id if self.trace else None

    def fail(self, error: BaseException | None = None, outcome: str = "retry") -> None:
        """Mark the invocation failed (an exception or a RETRY / DROP signal)."""
        self.outcome = outcome
        if error is not None:
            self.error = error

    def log_fields(self) -> dict[str, Any]:
        """The fields every log line of this invocation carries (unset ones left out)."""
        out: dict[str, Any] = {"function": self.function, "trigger": self.kind}
        if self.event_id is not None:
            out["event_id"] = self.event_id
        if self.instance_id is not None:
            out["instance_id"] = self.instance_id
        if self.actor_id is not None:
            out["actor_id"] = self.actor_id
        out["attempt"] = self.attempt
        if self.trace is not None:
            out["trace_id"] = self.trace.trace_id
            out["span_id"] = self.trace.span_id
        return out


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "funchost_invocation", default=None
)


def current() -> Invocation | None:
    """The invocation running in this context, if any."""
    return _current.get()


def current_trace() -> TraceContext | None:
    """The trace context of the running invocation, if any."""
    inv = _current.get()
    return inv.trace if inv is not None else None


@contextmanager
def invocation(
    function: str,
    kind: str,
    *,
    traceparent: str | None = None,
    tracestate: str | None = None,
    event_id: str | None = None,
    instance_id: str | None = None,
    actor_id: str | None = None,
    attempt: int = 1,
) -> Iterator[Invocation]:
    """Bind an `Invocation` to the current context for the duration of the block.

    The trace continues the incoming `traceparent` (a new span in the same trace) or, without
    one, the enclosing invocation's trace, or starts a new trace.
    """
    parent = parse_traceparent(traceparent, tracestate)
    if parent is None:
        parent = current_trace()
    trace = parent.child() if parent is not None else new_trace()
    inv = Invocation(
        function=function,
        kind=kind,
        event_id=event_id,
        instance_id=instance_id,
        actor_id=actor_id,
        attempt=attempt,
        trace=trace,
        parent=parent,
    )
    token = _current.set(inv)
    try:
        yield inv
    finally:
        _current.reset(token)


def outgoing_traceparent() -> str | None:
    """A `traceparent` for an outgoing call made by the running invocation (None outside one)."""
    trace = current_trace()
    return trace.child().traceparent if trace is not None else None


def outgoing_metadata(metadata: dict[str, str] | None = None) -> dict[str, str]:
    """`metadata` plus `traceparent` / `tracestate` of the running invocation (caller's win)."""
    out = dict(metadata or {})
    trace = current_trace()
    if trace is not None:
        for key, value in trace.child().headers().items():
            out.setdefault(key, value)
    return out
