"""The observability middleware, driven as daprd drives an app (PROTOCOL.md section 1)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from funchost.observability import (
    Metrics,
    ObservabilityMiddleware,
    Observer,
    RouteTable,
    RouteTarget,
    current,
    outgoing_traceparent,
)

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = TP.split("-")[1]


def build() -> tuple[FastAPI, Observer, list[dict[str, Any]]]:
    app = FastAPI()
    seen: list[dict[str, Any]] = []
    answers: dict[str, Any] = {}

    @app.post("/orders")
    async def orders(request: Request) -> Any:
        inv = current()
        assert inv is not None
        event = await request.json()
        seen.append({"fields": inv.log_fields(), "out": outgoing_traceparent(), "id": event["id"]})
        answer = answers.get(event["data"])
        if answer == "raise":
            raise RuntimeError("handler bug")
        return answer

    @app.get("/tasks/{task_id}")
    def task(task_id: str) -> dict[str, str]:
        inv = current()
        assert inv is not None  # sync handlers run in a thread with the context copied
        return {"id": task_id, "trace": inv.trace_id or ""}

    @app.put("/actors/{t}/{i}/method/{m}")
    def actor(t: str, i: str, m: str) -> Response:
        return Response(status_code=500 if m == "explode" else 200)

    @app.delete("/actors/{t}/{i}")
    def deactivate(t: str, i: str) -> None:
        return None

    app.state.answers = answers
    routes = RouteTable(
        [
            (["POST"], "/orders", RouteTarget("on_order", "topic", dead_letter=True)),
            (["GET"], "/tasks/{task_id}", RouteTarget("get_task", "invoke")),
        ]
    )
    observer = Observer(Metrics())
    app.add_middleware(ObservabilityMiddleware, observer=observer, routes=routes)
    return app, observer, seen


def cloudevent(event_id: str, data: str, traceparent: str = TP) -> dict[str, Any]:
    return {
        "id": event_id,
        "specversion": "1.0",
        "source": "publisher",
        "type": "com.dapr.event.sent",
        "datacontenttype": "text/plain",
        "topic": "orders",
        "pubsubname": "pubsub",
        "traceid": traceparent,
        "traceparent": traceparent,
        "tracestate": "",
        "data": data,
    }


async def deliver(client: httpx.AsyncClient, event: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/orders", json=event, headers={"content-type": "application/cloudevents+json"}
    )


async def test_topic_outcomes_trace_and_attempts() -> None:
    app, observer, seen = build()
    app.state.answers.update(
        {"retry": {"status": "RETRY"}, "drop": {"status": "DROP"}, "raise": "raise"}
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await deliver(client, cloudevent("e1", "ok"))).status_code == 200
        await deliver(client, cloudevent("e2", "retry"))
        await deliver(client, cloudevent("e2", "retry"))
        await deliver(client, cloudevent("e3", "drop"))
        assert (await deliver(client, cloudevent("e4", "raise"))).status_code == 500
        r = await client.get("/tasks/42", headers={"traceparent": TP})
        assert r.json() == {"id": "42", "trace": TRACE}
    first = seen[0]["fields"]
    assert first["function"] == "on_order" and first["trigger"] == "topic"
    assert first["event_id"] == "e1" and first["trace_id"] == TRACE
    assert seen[0]["out"].split("-")[1] == TRACE
    assert [s["fields"]["attempt"] for s in seen[1:3]] == [1, 2]
    m = observer.metrics
    labels = {"function": "on_order", "trigger": "topic"}
    assert m.value("funchost_function_invocations_total", labels) == 5
    assert m.value("funchost_function_retries_total", labels) == 3  # 2 RETRY + 1 HTTP 500
    assert m.value("funchost_function_failures_total", labels) == 1
    assert m.value("funchost_function_dead_letters_total", labels) == 1
    invoke = {"function": "get_task", "trigger": "invoke"}
    assert m.value("funchost_function_invocations_total", invoke) == 1


async def test_actor_calls_and_activations(caplog: pytest.LogCaptureFixture) -> None:
    app, observer, _ = build()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        await client.put("/actors/TaskActor/t1/method/get")
        await client.put("/actors/TaskActor/t1/method/get")
        with caplog.at_level(logging.WARNING, "funchost.invocation"):
            await client.put("/actors/TaskActor/t1/method/explode")
        await client.delete("/actors/TaskActor/t1")
        await client.put("/actors/TaskActor/t1/method/get")
    m = observer.metrics
    assert m.value("funchost_actor_activations_total", {"actor_type": "TaskActor"}) == 2
    labels = {"function": "TaskActor", "trigger": "actor"}
    assert m.value("funchost_function_invocations_total", labels) == 4
    assert m.value("funchost_function_failures_total", labels) == 1
    assert any("TaskActor" in r.getMessage() for r in caplog.records)
