"""End to end on the embedded sidecar: trace ids across a publish chain, metrics by outcome."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from funchost.testing import LocalRuntime

pytestmark = pytest.mark.e2e
SAMPLE = Path(__file__).parent / "sample" / "functions"


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    async with LocalRuntime(SAMPLE, resources=[]) as rt:
        yield rt


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


async def metrics(rt: LocalRuntime) -> dict[tuple[str, str], float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{rt.app_url}/metrics")).text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, s.labels.get("function", ""))] = s.value
    return out


async def test_trace_id_matches_across_publish_handler_publish(
    runtime: LocalRuntime, log_stream: io.StringIO
) -> None:
    await runtime.publish("pubsub", "orders", {"id": "o-1"})
    await runtime.idle()
    records = lines(log_stream)
    order = next(r for r in records if r["msg"] == "order o-1 received")
    shipment = next(r for r in records if r["msg"] == "shipment for order o-1 received")
    assert order["function"] == "on_order" and order["trigger"] == "topic"
    assert shipment["function"] == "on_shipment"
    assert isinstance(order["trace_id"], str) and len(order["trace_id"]) == 32
    assert shipment["trace_id"] == order["trace_id"]
    assert shipment["span_id"] != order["span_id"]
    assert order["event_id"] and order["event_id"] != shipment["event_id"]
    assert order["attempt"] == 1


async def test_metrics_move_with_success_retry_failure_and_drop(
    runtime: LocalRuntime, log_stream: io.StringIO
) -> None:
    for mode in ("ok", "retry", "boom", "drop"):
        await runtime.publish("pubsub", "flaky", {"id": f"i-{mode}", "mode": mode})
    await runtime.idle()
    await runtime.advance(timedelta(minutes=1))  # past every retry back-off
    await runtime.idle()
    m = await metrics(runtime)
    assert m[("funchost_function_invocations_total", "flaky")] == 6  # 4 + 2 redeliveries
    assert m[("funchost_function_retries_total", "flaky")] == 2
    assert m[("funchost_function_failures_total", "flaky")] == 1  # only the exception
    assert m[("funchost_function_drops_total", "flaky")] == 1
    assert m[("funchost_function_dead_letters_total", "flaky")] == 1
    assert m[("funchost_function_in_flight", "flaky")] == 0
    assert m[("funchost_function_duration_seconds_count", "flaky")] == 6
    done = [r for r in lines(log_stream) if str(r["msg"]).startswith("flaky i-retry done")]
    assert done and done[0]["attempt"] == 2  # the redelivery is attempt 2
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{runtime.app_url}/ping")).json() == {"pong": "yes"}
    m = await metrics(runtime)
    assert m[("funchost_function_invocations_total", "ping")] == 1


async def test_trace_continues_into_actor_calls_and_activations_count(
    runtime: LocalRuntime, log_stream: io.StringIO
) -> None:
    await runtime.publish("pubsub", "counts", {"id": "c-1", "n": 2})
    await runtime.publish("pubsub", "counts", {"id": "c-1", "n": 3})
    await runtime.idle()
    records = lines(log_stream)
    event = next(r for r in records if r["msg"] == "count event c-1")
    added = [r for r in records if str(r["msg"]).startswith("counter add")]
    assert len(added) == 2
    assert added[0]["function"] == "Counter" and added[0]["trigger"] == "actor"
    assert added[0]["actor_id"] == "c-1"
    assert added[0]["trace_id"] == event["trace_id"]
    m = await metrics(runtime)
    assert m[("funchost_function_invocations_total", "Counter")] == 2
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{runtime.app_url}/metrics")).text
    assert 'funchost_actor_activations_total{actor_type="Counter"} 1.0' in text
