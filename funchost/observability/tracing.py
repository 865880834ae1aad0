"""Optional OpenTelemetry tracing: a span per function invocation and per workflow activity.

Enabled by `FUNCHOST_TRACING=otlp` (or `console`), or by `OTEL_EXPORTER_OTLP_ENDPOINT` being set
(`FUNCHOST_TRACING=off` wins). Needs the `otel` extra (`pip install funchost[otel]`); without it
tracing stays off with one warning and nothing else changes. The span continues the incoming W3C
`traceparent`, and the invocation's trace context is moved onto the span, so outgoing publishes
and invocations carry the span as their parent, as daprd would.

The service name is `OTEL_SERVICE_NAME` when set (else the app id); `OTEL_RESOURCE_ATTRIBUTES`
is honoured too. Span attributes follow OpenTelemetry's semantic conventions (`semconv`):
`http.request.method`, `url.path`, `http.route`, `http.response.status_code` for HTTP triggers,
`messaging.system`, `messaging.destination.name`, `messaging.operation.type`,
`messaging.message.id` for pub/sub events, `rpc.system`, `rpc.service`, `rpc.method` for actor
calls, `faas.trigger`, `error.type`; funchost's own facts are namespaced `funchost.*`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._traceparent import TraceContext
from .scope import Invocation

__all__ = ["Tracing", "semconv", "service_name", "setup_tracing", "tracing_mode"]

#: funchost trigger kind -> OpenTelemetry `faas.trigger`
FAAS_TRIGGER = {
    "invoke": "http",
    "topic": "pubsub",
    "cron": "timer",
    "binding": "datasource",
    "actor": "other",
    "workflow": "other",
    "activity": "other",
}


def service_name(default: str) -> str:
    """`OTEL_SERVICE_NAME` when set, else `default` (the app id)."""
    return os.environ.get("OTEL_SERVICE_NAME", "").strip() or default


def semconv(inv: Invocation) -> dict[str, Any]:
    """The span attributes of `inv`, by OpenTelemetry's semantic conventions."""
    attrs: dict[str, Any] = {
        "faas.trigger": FAAS_TRIGGER.get(inv.kind, "other"),
        "funchost.function": inv.function,
        "funchost.trigger": inv.kind,
        "funchost.attempt": inv.attempt,
    }
    if inv.event_id is not None:
        attrs["funchost.event_id"] = inv.event_id
    if inv.instance_id is not None:
        attrs["funchost.workflow.instance_id"] = inv.instance_id
    if inv.actor_id is not None:
        attrs["funchost.actor.id"] = inv.actor_id
    if inv.extra:
        attrs.update({k: v for k, v in inv.extra.items() if v is not None})
    return attrs


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

    def __init__(self, app_id: str, exporter: Any = None, mode: str = "otlp") -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # Resource.create also merges OTEL_RESOURCE_ATTRIBUTES; service.name passed here wins.
        self.service_name = service_name(app_id)
        resource = Resource.create({"service.name": self.service_name})
        self.provider = TracerProvider(resource=resource)
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
        span = self.tracer.start_span(
            name or f"{inv.kind} {inv.function}",
            context=parent_ctx,
            kind=kind,
            attributes=semconv(inv),
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
            span.set_attributes(semconv(inv))  # what the trigger learnt while running (status)
            if inv.outcome != "success":
                span.set_attribute("funchost.outcome", inv.outcome)
                span.set_attribute(
                    "error.type", type(inv.error).__name__ if inv.error else inv.outcome
                )
                if inv.error is not None:
                    span.record_exception(inv.error)
                span.set_status(Status(StatusCode.ERROR, inv.outcome))
            otel_context.detach(token)
            span.end()

    def shutdown(self) -> None:
        """Flush and stop the exporter."""
        self.provider.shutdown()


def setup_tracing(app_id: str, exporter: Any = None) -> Tracing | None:
    """A `Tracing` when enabled by the environment (or an exporter is given), else None."""
    mode = "otlp" if exporter is not None else tracing_mode()
    if mode == "off":
        return None
    try:
        return Tracing(app_id, exporter=exporter, mode=mode)
    except ImportError as exc:
        log.warning(
            "tracing requested (%s) but OpenTelemetry is not installed (%s): "
            "pip install 'funchost[otel]'; continuing without tracing",
            mode,
            exc.name,
        )
        return None
