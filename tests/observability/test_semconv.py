"""Span attributes follow OpenTelemetry's semantic conventions, for each trigger kind the
middleware sees as daprd drives the app (skipped without the `otel` extra)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Response

from funchost.observability import Metrics, ObservabilityMiddleware, Observer, RouteTable
from funchost.observability.middleware import RouteTarget
from funchost.observability.tracing import setup_tracing
from tests.observability.test_middleware import TP, cloudevent

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)


def app_with_spans() -> tuple[FastAPI, InMemorySpanExporter]:
    app = FastAPI()

    @app.post("/orders")
    async def orders() -> dict[str, str]:
        return {"status": "SUCCESS"}

    @app.get("/tasks/{task_id}")
    def task(task_id: str) -> Response:
        return Response(status_code=404 if task_id == "missing" else 200)

    @app.put("/actors/{t}/{i}/method/{m}")
    def actor(t: str, i: str, m: str) -> Response:
        return Response(status_code=200)

    exporter = InMemorySpanExporter()
    tracing = setup_tracing("shop", exporter=exporter)
    routes = RouteTable(
        [
            (["POST"], "/orders", RouteTarget("on_order", "topic")),
            (["GET"], "/tasks/{task_id}", RouteTarget("get_task", "invoke")),
        ]
    )
    app.add_middleware(
        ObservabilityMiddleware, observer=Observer(Metrics(), tracing), routes=routes
    )
    return app, exporter


async def test_http_messaging_and_rpc_attribute_names() -> None:
    app, exporter = app_with_spans()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        await client.post("/orders", json=cloudevent("ev-1", "x", TP))
        await client.get("/tasks/missing")
        await client.put("/actors/CartActor/c1/method/AddItem", json={})
    spans = {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}

    topic = spans["topic on_order"]
    assert topic["messaging.system"] == "dapr"
    assert topic["messaging.destination.name"] == "orders"
    assert topic["messaging.operation.type"] == "process"
    assert topic["messaging.message.id"] == "ev-1"
    assert topic["http.request.method"] == "POST" and topic["url.path"] == "/orders"
    assert topic["http.response.status_code"] == 200
    assert topic["faas.trigger"] == "pubsub"

    invoke = spans["invoke get_task"]
    assert invoke["http.request.method"] == "GET"
    assert invoke["url.path"] == "/tasks/missing"
    assert invoke["http.response.status_code"] == 404
    assert invoke["faas.trigger"] == "http"

    actor = spans["actor CartActor"]
    assert actor["rpc.system"] == "dapr"
    assert actor["rpc.service"] == "CartActor" and actor["rpc.method"] == "AddItem"
    assert actor["funchost.actor.id"] == "c1"

    legacy = {"function", "trigger", "event_id", "method", "http.method", "http.status_code"}
    assert not legacy & {k for attrs in spans.values() for k in attrs}  # old, non-semconv names
