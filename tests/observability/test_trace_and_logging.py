"""Trace context parsing and structured log lines carrying the running invocation."""

from __future__ import annotations

import io
import json
import logging

import pytest

from funchost.observability import (
    configure_logging,
    current,
    invocation,
    outgoing_metadata,
    outgoing_traceparent,
    parse_traceparent,
)
from funchost.observability.logging import resolve_format

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (TP, True),
        (TP.upper(), True),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", False),
        ("garbage", False),
        ("", False),
        (None, False),
    ],
)
def test_parse_traceparent(value: str | None, ok: bool) -> None:
    parsed = parse_traceparent(value)
    assert (parsed is not None) is ok
    if parsed is not None:
        assert parsed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert parsed.traceparent == TP


def test_invocation_continues_incoming_trace_and_outgoing_calls_carry_it() -> None:
    assert current() is None and outgoing_traceparent() is None
    assert outgoing_metadata({"a": "b"}) == {"a": "b"}
    with invocation("on_order", "topic", traceparent=TP, tracestate="k=v", event_id="e1") as inv:
        assert current() is inv
        assert inv.trace is not None and inv.trace.trace_id == TP.split("-")[1]
        assert inv.trace.span_id != TP.split("-")[2]  # a new span of the same trace
        out = parse_traceparent(outgoing_traceparent())
        assert out is not None and out.trace_id == inv.trace.trace_id
        meta = outgoing_metadata({"rawPayload": "true"})
        assert meta["rawPayload"] == "true" and meta["tracestate"] == "k=v"
        assert meta["traceparent"].split("-")[1] == inv.trace.trace_id
        # a nested invocation without its own traceparent stays in the same trace
        with invocation("validate", "activity", instance_id="wf-1") as inner:
            assert inner.trace is not None and inner.trace.trace_id == inv.trace.trace_id
    assert current() is None
    with invocation("x", "invoke") as fresh:
        assert fresh.trace is not None and fresh.trace.trace_id != TP.split("-")[1]


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_invocation_fields() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", level="INFO", stream=stream)
    try:
        log = logging.getLogger("user.functions")
        log.info("outside")
        with invocation("on_order", "topic", traceparent=TP, event_id="evt-9", attempt=2) as inv:
            log.info("processing %s", "order-1", extra={"order": "order-1"})
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception("failed")
        lines = _json_lines(stream)
    finally:
        logging.getLogger().removeHandler(handler)
    outside, inside, failed = lines
    assert outside["msg"] == "outside" and "function" not in outside
    assert inside["msg"] == "processing order-1"
    assert inside["function"] == "on_order" and inside["trigger"] == "topic"
    assert inside["event_id"] == "evt-9" and inside["attempt"] == 2
    assert inside["trace_id"] == TP.split("-")[1] and inside["span_id"] == inv.trace.span_id
    assert inside["order"] == "order-1" and inside["level"] == "info"
    assert failed["exc_type"] == "ValueError" and "boom" in str(failed["exc"])


def test_text_format_and_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCHOST_LOG_FORMAT", "auto")
    assert resolve_format(stream=io.StringIO()) == "json"  # not a terminal
    monkeypatch.setenv("FUNCHOST_LOG_FORMAT", "text")
    assert resolve_format() == "text"
    monkeypatch.setenv("FUNCHOST_LOG_FORMAT", "yaml")
    with pytest.raises(ValueError, match="FUNCHOST_LOG_FORMAT"):
        resolve_format()
    stream = io.StringIO()
    handler = configure_logging("text", stream=stream)
    try:
        with invocation("TaskActor", "actor", actor_id="t-1"):
            logging.getLogger("x").warning("hello")
    finally:
        logging.getLogger().removeHandler(handler)
    out = stream.getvalue()
    assert "hello" in out and "function=TaskActor" in out and "actor_id=t-1" in out
