"""W3C Trace Context (`traceparent` / `tracestate`) parsing and propagation helpers."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceContext(NamedTuple):
    """One W3C trace context: the trace, the parent span, flags and the vendor `tracestate`."""

    trace_id: str
    span_id: str
    flags: str = "01"
    tracestate: str = ""

    @property
    def traceparent(self) -> str:
        """The `traceparent` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """A new span in the same trace (what an outgoing call carries)."""
        return TraceContext(self.trace_id, new_span_id(), self.flags, self.tracestate)

    def headers(self) -> dict[str, str]:
        """`traceparent` (+ `tracestate` when set) as a header / metadata map."""
        out = {"traceparent": self.traceparent}
        if self.tracestate:
            out["tracestate"] = self.tracestate
        return out


def new_span_id() -> str:
    """A random, non-zero 8-byte span id in hex."""
    value = os.urandom(8).hex()
    return value if value != _ZERO_SPAN else new_span_id()


def new_trace() -> TraceContext:
    """A fresh sampled root trace context."""
    while True:
        trace_id = os.urandom(16).hex()
        if trace_id != _ZERO_TRACE:
            return TraceContext(trace_id, new_span_id())


def parse_traceparent(value: str | None, tracestate: str | None = None) -> TraceContext | None:
    """Parse a `traceparent` value; None when absent or malformed (as the spec says: restart)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value)
    if match is None:
        match = _TRACEPARENT.match(value.strip().lower())
        if match is None:
            return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, span_id, flags, (tracestate or "").strip())
