"""Acting as daprd: bindings, jobs, invoke, actors config, health, token, /functions."""

from __future__ import annotations

import json

import httpx
import pytest

from funchost import Settings, create_app, discover
from tests.host.conftest import SAMPLES, make_client


async def test_binding_probe_and_delivery(client, seen) -> None:
    probe = await client.options("/queue")
    assert probe.status_code == 200
    resp = await client.post(
        "/queue",
        content=json.dumps({"k": 1}),
        headers={"content-type": "application/json", "x-meta": "m"},
    )
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert seen == [("queue", {"k": 1})]
    json_ct = {"content-type": "application/json"}
    bad = await client.post("/queue", content=b"[1, 2]", headers=json_ct)
    assert bad.status_code == 400


async def test_binding_error_is_non_2xx() -> None:
    from funchost import binding

    @binding("broken")
    def broken(data: dict) -> None:
        raise ValueError("nope")

    async with make_client(create_app([broken], Settings(workflows=False))) as c:
        resp = await c.post("/broken", json={"a": 1})
    assert resp.status_code == 500
    assert resp.json()["message"] == "ValueError: nope"


async def test_job_callback_and_per_replica_cron(client, seen) -> None:
    resp = await client.post("/job/cleanup", content=b"")
    assert resp.status_code == 200
    assert (await client.options("/heartbeat")).status_code == 200
    assert (await client.post("/heartbeat", content=b"{}")).status_code == 200
    assert seen == [("cleanup", "cleanup"), ("heartbeat",)]


async def test_invoke_routes_with_path_params_and_bodies(client) -> None:
    resp = await client.get("/tasks/42")
    assert resp.status_code == 200 and resp.json() == {"id": 42}
    assert (await client.get("/tasks/abc")).status_code == 422
    created = await client.post("/tasks", json={"id": "t1", "amount": 1})
    assert created.json() == {"created": "t1"}
    invalid = await client.post("/tasks", json={"id": "t1"})
    assert invalid.status_code == 422
    assert (await client.put("/tasks")).status_code == 405


async def test_healthz_and_functions(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    body = (await client.get("/functions")).json()
    kinds = sorted({f["kind"] for f in body["functions"]})
    assert kinds == ["activity", "actor", "binding", "cron", "invoke", "topic", "workflow"]


async def test_app_api_token_guards_every_route_but_healthz(registry) -> None:
    app = create_app(registry, Settings(app_api_token="s3cret", workflows=False))
    async with make_client(app) as c:
        assert (await c.get("/healthz")).status_code == 200
        for method, path in [
            ("GET", "/dapr/subscribe"),
            ("GET", "/dapr/config"),
            ("POST", "/events/pubsub/orders/on_order"),
            ("POST", "/queue"),
            ("POST", "/job/cleanup"),
            ("GET", "/tasks/1"),
            ("GET", "/functions"),
        ]:
            resp = await c.request(method, path)
            assert resp.status_code == 401, path
            wrong = await c.request(method, path, headers={"dapr-api-token": "nope"})
            assert wrong.status_code == 401
        ok = await c.get("/dapr/subscribe", headers={"dapr-api-token": "s3cret"})
        assert ok.status_code == 200


def test_single_healthz_route_with_actors(registry) -> None:
    app = create_app(registry, Settings(workflows=False))
    paths = [getattr(r, "path", None) for r in app.router.routes]
    assert paths.count("/healthz") == 1
    assert "/dapr/config" in paths


@pytest.fixture
def sidecar(monkeypatch):
    """The real embedded sidecar (no app) so the SDK's actor client finds a healthy daprd."""
    from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, free_port

    config = SidecarConfig(app_id="host-test", http_port=free_port(), grpc_port=free_port())
    thread = SidecarThread(Sidecar(config))
    thread.start()
    for key, value in thread.sidecar.env().items():
        monkeypatch.setenv(key, value)
    yield thread.sidecar
    thread.stop()


async def test_dapr_config_lists_actor_types_with_settings(sidecar) -> None:
    registry = discover(SAMPLES / "all_kinds", plugins=False)
    app = create_app(registry, Settings(workflows=False, schedule_jobs=False))
    async with app.router.lifespan_context(app), make_client(app) as c:
        resp = await c.get("/dapr/config")
    assert resp.status_code == 200
    config = resp.json()
    assert config["entities"] == ["CounterActor"]
    assert config["actorIdleTimeout"] == "1h0m0s0ms0μs"
    (type_config,) = config["entitiesConfig"]
    assert type_config["entities"] == ["CounterActor"]
    assert type_config["actorIdleTimeout"] == "0h30m0s0ms0μs"
    assert type_config["reentrancy"] == {"enabled": True, "maxStackDepth": 32}


async def test_no_routes_for_absent_kinds() -> None:
    app = create_app([], Settings(workflows=False))
    async with make_client(app) as c:
        assert (await c.get("/dapr/subscribe")).json() == []
        assert (await c.get("/dapr/config")).status_code == 404
        assert isinstance(c, httpx.AsyncClient)
