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


_UNSET: Any = object()


class Invocation:
    """What runs now: which function, why (trigger kind and ids), which attempt, which trace.

    The trace context is worked out lazily (on the first log line, span or outgoing call), so
    an invocation nobody asks about costs no parsing and no random span id.
    """

    __slots__ = (
        "_incoming",
        "_outer",
        "_parent",
        "_trace",
        "_tracestate",
        "actor_id",
        "attempt",
        "error",
        "event_id",
        "extra",
        "function",
        "instance_id",
        "kind",
        "outcome",
    )

    def __init__(
        self,
        function: str,
        kind: str,
        event_id: str | None = None,
        instance_id: str | None = None,
        actor_id: str | None = None,
        attempt: int = 1,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
        outer: Invocation | None = None,
    ) -> None:
        self.function = function
        self.kind = kind
        self.event_id = event_id
        self.instance_id = instance_id
        self.actor_id = actor_id
        self.attempt = attempt
        self.outcome = "success"
        self.error: BaseException | None = None
        self.extra: dict[str, Any] | None = None
        self._incoming = traceparent
        self._tracestate = tracestate
        self._outer = outer
        self._parent: Any = _UNSET
        self._trace: TraceContext | None = None

    def __repr__(self) -> str:
        return f"Invocation({self.kind} {self.function}, outcome={self.outcome})"

    @property
    def parent(self) -> TraceContext | None:
        """The incoming trace context (else the enclosing invocation's), or None."""
        if self._parent is _UNSET:
            parent = parse_traceparent(self._incoming, self._tracestate)
            if parent is None and self._outer is not None:
                parent = self._outer.trace
            self._parent = parent
        return self._parent  # type: ignore[no-any-return]

    @property
    def trace(self) -> TraceContext:
        """This invocation's span: a child of `parent`, or a new trace."""
        trace = self._trace
        if trace is None:
            parent = self.parent
            trace = self._trace = parent.child() if parent is not None else new_trace()
        return trace

    @trace.setter
    def trace(self, value: TraceContext) -> None:
        self._trace = value

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

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
        trace = self.trace
        out["trace_id"] = trace.trace_id
        out["span_id"] = trace.span_id
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


def enter(
    function: str,
    kind: str,
    traceparent: str | None = None,
    tracestate: str | None = None,
    event_id: str | None = None,
    instance_id: str | None = None,
    actor_id: str | None = None,
    attempt: int = 1,
) -> tuple[Invocation, contextvars.Token[Invocation | None]]:
    """Bind a new `Invocation`; pass the token to `leave()` (what `invocation()` does)."""
    inv = Invocation(
        function,
        kind,
        event_id,
        instance_id,
        actor_id,
        attempt,
        traceparent=traceparent,
        tracestate=tracestate,
        outer=_current.get(),
    )
    return inv, _current.set(inv)


def leave(token: contextvars.Token[Invocation | None]) -> None:
    """Unbind the invocation bound by `enter()`."""
    _current.reset(token)


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
    inv, token = enter(
        function, kind, traceparent, tracestate, event_id, instance_id, actor_id, attempt
    )
    try:
        yield inv
    finally:
        leave(token)


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
