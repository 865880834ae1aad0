"""The actor HTTP API's route table and error shapes (the lean ASGI app in `_http.py`)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


async def test_routes_methods_and_errors(make_env) -> None:
    h = make_env()
    base = f"http://127.0.0.1:{h.sidecar.config.http_port}/v1.0/actors"
    async with httpx.AsyncClient() as client:
        ok = await client.post(f"{base}/CounterActor/r1/method/Increment", content=b"3")
        assert ok.status_code == 200 and ok.json() == 3
        assert ok.headers["content-type"].startswith("application/json")
        # the method name and id are taken from the path, whatever the verb
        again = await client.put(f"{base}/CounterActor/r1/method/Increment", content=b"1")
        assert again.json() == 4
        missing = await client.post(f"{base}/NoSuchActor/x/method/Increment", content=b"1")
        assert missing.status_code == 500
        assert missing.json()["errorCode"] == "ERR_ACTOR_INSTANCE_MISSING"
        assert "CounterActor" in missing.json()["message"]  # names the hosted types
        state_missing = await client.get(f"{base}/NoSuchActor/x/state/k")
        assert state_missing.status_code == 400
        # route table: unknown kinds 404, wrong verbs 405
        for path in ("CounterActor/r1/nothing/x", "CounterActor/r1/method/", "CounterActor"):
            assert (await client.get(f"{base}/{path}")).status_code == 404, path
        assert (await client.post(f"{base}/CounterActor/r1/state/count")).status_code == 405
        assert (await client.get(f"{base}/CounterActor/r1/state")).status_code == 405
        assert (await client.get(f"{base}/CounterActor/r1/timers/t")).status_code == 405
        # reminders: create, read back, bad body, delete
        url = f"{base}/CounterActor/r1/reminders/rem"
        created = await client.post(url, json={"dueTime": "1h", "data": "x"})
        assert created.status_code == 204 and created.content == b""
        got = await client.get(url)
        assert got.json() == {
            "actorID": "r1",
            "actorType": "CounterActor",
            "data": "x",
            "dueTime": "1h",
        }
        bad = await client.post(url, content=b"[1]")
        assert bad.status_code == 400 and bad.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
        bad_time = await client.post(url, json={"dueTime": "tomorrow"})
        assert "dueTime" in bad_time.json()["message"]
        assert (await client.delete(url)).status_code == 204
        assert (await client.get(url)).json()["errorCode"] == "ERR_ACTOR_REMINDER_GET"
        # timers: bad period rejected
        timer = await client.post(f"{base}/CounterActor/r1/timers/t", json={"period": "often"})
        assert timer.status_code == 400 and "period" in timer.json()["message"]
