"""Method calls, state, turn-based concurrency, reentrancy and errors through the sidecar."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from dapr.clients.exceptions import DaprInternalError

pytestmark = pytest.mark.e2e


async def test_method_calls_and_state_round_trip(make_env) -> None:
    h = make_env()
    proxy = h.proxy("a1")
    assert await proxy.Increment(5) == 5
    assert await proxy.Increment(2) == 7
    assert await proxy.Get() == 7
    assert await h.proxy("a2").Get() == 0
    base = f"http://127.0.0.1:{h.sidecar.config.http_port}/v1.0/actors/CounterActor"
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{base}/a1/state/count")
        assert resp.status_code == 200 and resp.json() == 7
        resp = await client.get(f"{base}/a1/state/nothing")
        assert resp.status_code == 204 and resp.content == b""
        ops = [
            {"operation": "upsert", "request": {"key": "k", "value": {"x": 1}}},
            {
                "operation": "upsert",
                "request": {"key": "t", "value": 1, "metadata": {"ttlInSeconds": "10"}},
            },
            {"operation": "delete", "request": {"key": "count"}},
        ]
        assert (await client.put(f"{base}/a1/state", json=ops)).status_code == 204
        assert (await client.get(f"{base}/a1/state/k")).json() == {"x": 1}
        assert (await client.get(f"{base}/a1/state/count")).status_code == 204
        assert (await client.get(f"{base}/a1/state/t")).status_code == 200
        h.advance(11)
        assert (await client.get(f"{base}/a1/state/t")).status_code == 204
        bad = await client.put(f"{base}/a1/state", json=[{"operation": "merge"}])
        assert bad.status_code == 400 and bad.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
    # Stored in the actorStateStore component under daprd's key layout.
    backend = h.sidecar.get("state").actor_backend()
    assert backend.get("actors-test||CounterActor||a1||k").value == b'{"x":1}'


async def test_actors_need_an_actor_state_store(harness, tmp_path) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "plain.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: plain\n"
        "spec:\n  type: state.sqlite\n  version: v1\n  metadata: []\n"
    )
    harness.start_sidecar(resources=resources)
    harness.start_app()
    harness.ready()
    with pytest.raises(DaprInternalError) as info:
        await harness.proxy("nostore").Increment(1)
    assert info.value.error_code == "ERR_ACTOR_RUNTIME_NOT_FOUND"
    assert "actorStateStore" in str(info.value.message)


async def test_state_survives_deactivation_and_reactivation(make_env) -> None:
    h = make_env(idle=60, scan=10)
    assert await h.proxy("keep").Increment(3) == 3
    h.advance(30)
    assert h.rec.of("deactivate") == []
    h.advance(45)
    assert h.rec.of("deactivate") == [("deactivate", "keep")]
    assert ("CounterActor", "keep") not in h.actors.actors
    assert await h.proxy("keep").Increment(1) == 4
    assert [e for e in h.rec.of("activate") if e[1] == "keep"] == [
        ("activate", "keep"),
        ("activate", "keep"),
    ]


async def test_one_id_runs_one_turn_at_a_time(make_env) -> None:
    h = make_env()
    proxy = h.proxy("hot")
    results = await asyncio.gather(*(proxy.Increment(1) for _ in range(100)))
    assert sorted(results) == list(range(1, 101))
    assert await proxy.Get() == 100
    assert h.rec.overlaps == 0


async def test_different_ids_run_in_parallel(make_env) -> None:
    h = make_env()
    from _actors_app import GATE

    GATE["want"] = 5
    # Each call returns only once all 5 ids are inside their turn at the same time.
    results = await asyncio.gather(*(h.proxy(f"p{i}").Rendezvous() for i in range(5)))
    assert results == [5] * 5


async def test_reentrancy_lets_the_same_call_chain_in(make_env) -> None:
    h = make_env(reentrancy=True, max_depth=8)
    assert await h.proxy("re").CallSelf(3) == 4
    assert [e[2] for e in h.rec.of("call_self")] == [3, 2, 1, 0]


async def test_reentrancy_depth_is_limited(make_env) -> None:
    h = make_env(reentrancy=True, max_depth=3)
    with pytest.raises(DaprInternalError) as info:
        await h.proxy("deep").CallSelf(5)
    assert "maximum stack depth exceeded" in str(info.value.message)
    # The actor is usable afterwards: the turn was released.
    assert await h.proxy("deep").Increment(1) == 1


async def test_app_error_and_unknown_type(make_env) -> None:
    h = make_env()
    with pytest.raises(DaprInternalError) as info:
        await h.proxy("f").Fail()
    assert "boom from the actor" in str(info.value.message)
    with pytest.raises(DaprInternalError) as info:
        await h.proxy("x", actor_type="NoSuchActor").Get()
    assert info.value.error_code == "ERR_ACTOR_INSTANCE_MISSING"
    assert "NoSuchActor" in str(info.value.message)


async def test_drain_on_stop_deactivates_active_actors(make_env) -> None:
    h = make_env()
    await h.proxy("d1").Increment(1)
    await h.proxy("d2").Increment(1)
    h.stop_sidecar()
    assert sorted(e[1] for e in h.rec.of("deactivate")) == ["d1", "d2"]


async def test_a_call_during_app_discovery_waits_for_the_actor_types(harness) -> None:
    # The sidecar is up but the app is not listening yet: a call must not fail with
    # "not hosted" because /dapr/config has not been read; it waits for discovery.
    harness.start_sidecar()
    base = f"http://127.0.0.1:{harness.sidecar.config.http_port}/v1.0/actors/CounterActor"
    async with httpx.AsyncClient(timeout=30) as client:
        early = asyncio.ensure_future(client.post(f"{base}/early/method/Increment", json=3))
        await asyncio.sleep(0.3)
        assert not early.done()
        harness.start_app()
        resp = await early
        assert resp.status_code == 200 and resp.json() == 3
        unknown = await client.post(f"{base.replace('CounterActor', 'Nope')}/x/method/Get")
        assert unknown.status_code == 500
        assert unknown.json()["errorCode"] == "ERR_ACTOR_INSTANCE_MISSING"
