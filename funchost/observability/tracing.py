"""Optional OpenTelemetry tracing: a span per function invocation and per workflow activity.

Enabled by `FUNCHOST_TRACING=otlp` (or `console`), or by `OTEL_EXPORTER_OTLP_ENDPOINT` being set
(`FUNCHOST_TRACING=off` wins). Needs the `otel` extra (`pip install funchost[otel]`); without it
tracing stays off with one warning and nothing else changes. The span continues the incoming W3C
`traceparent`, and the invocation's trace context is moved onto the span, so outgoing publishes
and invocations carry the span as their parent, as daprd would.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._traceparent import TraceContext
from .scope import Invocation

__all__ = ["Tracing", "setup_tracing", "tracing_mode"]

log = logging.getLogger("funchost.observability")


def tracing_mode() -> str:
    """`otlp`, `console` or `off`, from FUNCHOST_TRACING / OTEL_EXPORTER_OTLP_ENDPOINT."""
    value = os.environ.get("FUNCHOST_TRACING", "").strip().lower()
    if value in ("off", "none", "false", "0"):
        return "off"
    if value in ("otlp", "console"):
        return value
    if value:
        raise ValueError(
            f"FUNCHOST_TRACING={value!r} is not a tracing mode: use otlp, console or off"
        )
    return "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "off"


class Tracing:
    """Spans for invocations, on a TracerProvider of their own (exporter given or by mode)."""

    def __init__(self, service_name: str, exporter: Any = None, mode: str = "otlp") -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        elif mode == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            self.provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("funchost")

    @contextmanager
    def span(self, inv: Invocation, name: str | None = None) -> Iterator[Any]:
        """A span around `inv`, child of its incoming parent; `inv.trace` becomes the span."""
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            SpanKind,
            Status,
            StatusCode,
            TraceFlags,
            TraceState,
        )

        parent_ctx = None
        p = inv.parent
        if p is not None:
            state = TraceState.from_header([p.tracestate]) if p.tracestate else None
            remote = SpanContext(
                int(p.trace_id, 16),
                int(p.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(int(p.flags, 16)),
                trace_state=state,
            )
            parent_ctx = trace.set_span_in_context(NonRecordingSpan(remote))
        kind = SpanKind.INTERNAL if inv.kind in ("activity", "workflow") else SpanKind.SERVER
        attrs = {k: v for k, v in inv.log_fields().items() if k not in ("trace_id", "span_id")}
        span = self.tracer.start_span(
            name or f"{inv.kind} {inv.function}", context=parent_ctx, kind=kind, attributes=attrs
        )
        sc = span.get_span_context()
        inv.trace = TraceContext(
            format(sc.trace_id, "032x"),
            format(sc.span_id, "016x"),
            format(int(sc.trace_flags), "02x"),
            p.tracestate if p is not None else "",
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            if inv.outcome != "success":
                span.set_attribute("funchost.outcome", inv.outcome)
                if inv.error is not None:
                    span.record_exception(inv.error)
                span.set_status(Status(StatusCode.ERROR, inv.outcome))
            otel_context.detach(token)
            span.end()

    def shutdown(self) -> None:
        """Flush and stop the exporter."""
        self.provider.shutdown()


def setup_tracing(service_name: str, exporter: Any = None) -> Tracing | None:
    """A `Tracing` when enabled by the environment (or an exporter is given), else None."""
    mode = "otlp" if exporter is not None else tracing_mode()
    if mode == "off":
        return None
    try:
        return Tracing(service_name, exporter=exporter, mode=mode)
    except ImportError as exc:
        log.warning(
            "tracing requested (%s) but OpenTelemetry is not installed (%s): "
            "pip install 'funchost[otel]'; continuing without tracing",
            mode,
            exc.name,
        )
        return None
