"""funchost's operating surface: structured logs, metrics, tracing, reload, status, timelines.

The pieces are independent; `Observer` ties metrics and tracing to the invocation scope that
the dispatch path opens, and `scope` carries the running invocation (and its W3C trace context)
to log lines and outgoing calls.
"""

from __future__ import annotations

from ._traceparent import TraceContext, new_trace, parse_traceparent
from .logging import configure_logging
from .metrics import Metrics
from .middleware import ObservabilityMiddleware, RouteTable, RouteTarget
from .observer import Observer
from .scope import Invocation, current, invocation, outgoing_metadata, outgoing_traceparent

__all__ = [
    "Invocation",
    "Metrics",
    "ObservabilityMiddleware",
    "Observer",
    "RouteTable",
    "RouteTarget",
    "TraceContext",
    "configure_logging",
    "current",
    "invocation",
    "new_trace",
    "outgoing_metadata",
    "outgoing_traceparent",
    "parse_traceparent",
]
