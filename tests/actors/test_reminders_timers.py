"""Reminders and timers on the virtual clock; persistence across a sidecar restart."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


def fires(h, kind: str = "reminder") -> list[tuple]:
    return h.rec.of(kind)


async def test_reminder_fires_with_data_repeats_and_stops_on_unregister(make_env) -> None:
    h = make_env()
    await h.proxy("r1").SetReminder({"name": "ping", "data": "hello", "due": 10, "period": 5})
    h.advance(9.5)
    assert fires(h) == []
    h.advance(0.5)
    assert fires(h) == [("reminder", "r1", "ping", "hello")]
    h.advance(10)
    assert len(fires(h)) == 3
    await h.proxy("r1").DropReminder("ping")
    h.advance(60)
    assert len(fires(h)) == 3


async def test_reminder_fires_while_actor_is_inactive(make_env) -> None:
    h = make_env(idle=20, scan=5)
    await h.proxy("sleepy").SetReminder({"name": "wake", "data": "x", "due": 100})
    h.advance(60)
    assert h.rec.of("deactivate") == [("deactivate", "sleepy")]
    h.advance(40)
    assert fires(h) == [("reminder", "sleepy", "wake", "x")]
    h.advance(200)  # one-shot: fired once, then deleted
    assert len(fires(h)) == 1
    assert h.actors.reminders.count() == 0


async def test_reminder_stops_after_ttl(make_env) -> None:
    h = make_env()
    # due 1s, period 1s, ttl 3.5s counted from the first due time: fires at 1, 2, 3, 4.
    await h.proxy("t").SetReminder({"name": "ttl", "data": "d", "due": 1, "period": 1, "ttl": 3.5})
    h.advance(30)
    assert len(fires(h)) == 4
    assert h.actors.reminders.count() == 0


async def test_reminder_http_forms_iso_repetitions_and_get(make_env) -> None:
    h = make_env()
    base = f"http://127.0.0.1:{h.sidecar.config.http_port}/v1.0/actors/CounterActor/iso"
    async with httpx.AsyncClient() as client:
        body = {"dueTime": "PT2S", "period": "R3/PT10S", "data": "aXNv"}  # base64("iso")
        assert (await client.put(f"{base}/reminders/rep", json=body)).status_code == 204
        got = (await client.get(f"{base}/reminders/rep")).json()
        assert got["period"] == "R3/PT10S" and got["dueTime"] == "PT2S" and got["data"] == "aXNv"
        h.advance(100)
        assert fires(h) == [("reminder", "iso", "rep", "iso")] * 3
        assert (await client.get(f"{base}/reminders/rep")).status_code == 404
        bad = await client.put(f"{base}/reminders/bad", json={"dueTime": "soon"})
        assert bad.status_code == 400 and "dueTime" in bad.json()["message"]
        go = {"dueTime": "1h0m0s0ms0μs", "period": "0h0m30s0ms0μs", "data": "Z28="}
        assert (await client.put(f"{base}/reminders/go", json=go)).status_code == 204
        h.advance(3600 + 61)
        assert len([f for f in fires(h) if f[2] == "go"]) == 3


async def test_missed_periods_fire_once_after_restart(make_env) -> None:
    h = make_env()
    t0 = h.clock.time()
    await h.proxy("m").SetReminder({"name": "tick", "data": "m", "due": 10, "period": 10})
    h.stop_sidecar()  # the process goes away before the reminder ever fired
    h.start_sidecar(start=t0 + 55)  # due at 10, 20, 30, 40, 50 while down
    h.ready()
    assert fires(h) == [("reminder", "m", "tick", "m")]
    h.advance(4)  # the schedule resumes at t0 + 60, not at restart + 10
    assert len(fires(h)) == 1
    h.advance(1)
    assert len(fires(h)) == 2


async def test_timers_fire_and_are_not_persisted(make_env) -> None:
    h = make_env()
    await h.proxy("tm").SetTimer({"name": "beat", "data": {"n": 1}, "due": 5, "period": 5})
    h.advance(4)
    assert fires(h, "timer") == []
    h.advance(7)
    assert fires(h, "timer") == [("timer", "tm", {"n": 1})] * 2
    t = h.clock.time()
    h.stop_sidecar()
    h.start_sidecar(start=t)
    h.ready()
    h.advance(60)
    assert len(fires(h, "timer")) == 2


async def test_timer_is_dropped_on_deactivation(make_env) -> None:
    h = make_env(idle=30, scan=5)
    await h.proxy("tt").SetTimer({"name": "late", "data": 1, "due": 100, "period": 100})
    h.advance(40)
    assert h.rec.of("deactivate") == [("deactivate", "tt")]
    h.advance(100)
    assert fires(h, "timer") == []


async def test_more_reminders_due_at_once_than_one_batch_all_fire_once(make_env) -> None:
    h = make_env()
    base = f"http://127.0.0.1:{h.sidecar.config.http_port}/v1.0/actors/CounterActor"
    async with httpx.AsyncClient() as client:
        for i in range(300):  # more than the loop's batch of 256, all due at the same instant
            body = {"dueTime": "5s", "data": "YQ=="}  # base64("a")
            resp = await client.put(f"{base}/many-{i}/reminders/once", json=body)
            assert resp.status_code == 204
    h.advance(10)
    assert sorted(f[1] for f in fires(h)) == sorted(f"many-{i}" for i in range(300))
    assert h.actors.reminders.count() == 0
