"""OpenTelemetry spans per invocation (skipped when the `otel` extra is not installed)."""

from __future__ import annotations

import pytest

from funchost.observability import Metrics, Observer, outgoing_traceparent, parse_traceparent
from funchost.observability.tracing import setup_tracing, tracing_mode

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_mode_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNCHOST_TRACING", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing_mode() == "off" and setup_tracing("x") is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_mode() == "otlp"
    monkeypatch.setenv("FUNCHOST_TRACING", "off")
    assert tracing_mode() == "off"


def test_span_per_invocation_continues_the_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = setup_tracing("svc", exporter=exporter)
    assert tracing is not None
    obs = Observer(Metrics(), tracing)
    with obs.invocation("on_order", "topic", traceparent=TP, event_id="e1") as inv:
        out = parse_traceparent(outgoing_traceparent())
        with obs.invocation("validate", "activity", instance_id="wf1"):
            pass
    with pytest.raises(ValueError), obs.invocation("bad", "invoke"):
        raise ValueError("x")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    outer, inner = spans["topic on_order"], spans["activity validate"]
    assert format(outer.context.trace_id, "032x") == TP.split("-")[1]
    assert format(outer.parent.span_id, "016x") == TP.split("-")[2]
    assert inv.trace is not None and format(outer.context.span_id, "016x") == inv.trace.span_id
    assert out is not None and out.trace_id == inv.trace.trace_id
    assert inner.parent.span_id == outer.context.span_id
    assert outer.attributes["funchost.function"] == "on_order"
    assert outer.attributes["funchost.event_id"] == "e1"
    assert outer.attributes["faas.trigger"] == "pubsub"
    assert not spans["invoke bad"].status.is_ok
    tracing.shutdown()


def test_otel_service_name_wins_over_the_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout-workers")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    tracing = setup_tracing("task-agent", exporter=InMemorySpanExporter())
    assert tracing is not None
    attrs = tracing.provider.resource.attributes
    assert attrs["service.name"] == "checkout-workers"
    assert attrs["deployment.environment"] == "prod"
    tracing.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    fallback = setup_tracing("task-agent", exporter=InMemorySpanExporter())
    assert fallback is not None and fallback.provider.resource.attributes["service.name"] == (
        "task-agent"
    )
    fallback.shutdown()
