"""Table tests for the sidecar's pure logic: durations, schedules, responses, routing, envelopes."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from datetime import UTC, datetime

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from funchost.sidecar import free_port
from funchost.sidecar.app_channel import AppResponse, AppUnavailable
from funchost.sidecar.app_channel.fast_http import FastHttpPool
from funchost.sidecar.cloudevents import envelope
from funchost.sidecar.pubsub.delivery import Outcome, classify, classify_bulk
from funchost.sidecar.resiliency import RetryPolicy
from funchost.sidecar.routing import Router, RuleError
from funchost.sidecar.timeformats import Schedule, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("PT10S", 10), ("P1D", 86400),
     ("2.5s", 2.5), ("15", 15)],
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10x", "abc", "1m30"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


T0 = datetime(2025, 1, 1, 0, 0, 7, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("schedule", "after"),
    [("@every 10s", 10), ("@every 1m", 60), ("*/10 * * * * *", 3), ("*/5 * * * *", 293),
     ("@daily", 86393), ("@hourly", 3593), ("0 30 * * * *", 1793)],
)  # fmt: skip
def test_schedule_next(schedule, after):
    assert Schedule.parse(schedule).next_after(T0, T0) - T0 == pytest.approx(after)


@pytest.mark.parametrize("schedule", ["61 * * * *", "* * *", "@every -1s", "@sometimes"])
def test_schedule_rejects(schedule):
    with pytest.raises(ValueError):
        Schedule.parse(schedule)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [(200, b"", Outcome.SUCCESS), (200, b"null", Outcome.SUCCESS), (204, b"", Outcome.SUCCESS),
     (200, b'{"status":"SUCCESS"}', Outcome.SUCCESS), (200, b'{"status":""}', Outcome.SUCCESS),
     (200, b'{"status":"RETRY"}', Outcome.RETRY), (200, b'{"status":"DROP"}', Outcome.DROP),
     (200, b'{"status":"WHAT"}', Outcome.RETRY), (200, b"plain text", Outcome.SUCCESS),
     (404, b"", Outcome.NOT_FOUND), (500, b"", Outcome.RETRY), (503, b"{}", Outcome.RETRY)],
)  # fmt: skip
def test_classify(status, body, outcome):
    assert classify(AppResponse(status, {}, body)) is outcome


def test_classify_bulk_missing_entry_is_retry():
    body = json.dumps({"statuses": [{"entryId": "1", "status": "SUCCESS"},
                                    {"entryId": "2", "status": "DROP"},
                                    {"entryId": "3", "status": ""}]}).encode()  # fmt: skip
    got = classify_bulk(AppResponse(200, {}, body), ["1", "2", "3", "4"])
    assert got == {"1": Outcome.SUCCESS, "2": Outcome.DROP, "3": Outcome.RETRY, "4": Outcome.RETRY}


def test_router_order_default_and_errors():
    router = Router([("event.data.n > 10", "/big"), ("event.type == 'x'", "/x"), ("", "/default")])
    assert router.route({"type": "x", "data": {"n": 50}}) == "/big"
    assert router.route({"type": "x", "data": {"n": 1}}) == "/x"
    assert router.route({"type": "y", "data": {}}) == "/default"  # missing field: no match
    assert Router([("event.type == 'x'", "/x")]).route({"type": "z"}) == ""
    with pytest.raises(RuleError):
        Router([("event.type ==", "/x")])


def test_retry_policy_delays():
    const = RetryPolicy(duration=2.0, max_retries=2)
    assert [const.delay(i) for i in (1, 2)] == [2.0, 2.0]
    assert const.allows(1) and not const.allows(2)
    expo = RetryPolicy(policy="exponential", max_interval=1.0, max_retries=-1)
    assert [expo.delay(i) for i in (1, 2, 3)] == [0.5, 0.75, 1.0]
    assert expo.allows(10_000)


def test_envelope_shapes():
    binary = envelope(
        data=b"\x01", content_type="application/octet-stream", topic="t", pubsub="p", source="a"
    )
    assert base64.b64decode(binary["data_base64"]) == b"\x01" and "data" not in binary
    text = envelope(data=b"hi", content_type="", topic="t", pubsub="p", source="a")
    assert text["datacontenttype"] == "text/plain" and text["data"] == "hi"
    bad_json = envelope(data=b"{oops", content_type="application/json", topic="t", pubsub="p",
                        source="a")  # fmt: skip
    assert bad_json["data"] == "{oops"
    override = envelope(data=b"1", content_type="application/json", topic="t", pubsub="p",
                        source="a", metadata={"cloudevent.id": "fixed"})  # fmt: skip
    assert override["id"] == "fixed" and override["data"] == 1


def test_fast_http_pool_survives_server_closing_idle_connections():
    port = free_port()

    async def echo(request: Request) -> Response:
        return Response(await request.body())

    config = uvicorn.Config(
        Starlette(routes=[Route("/e", echo, methods=["POST"])]),
        port=port, log_level="warning", timeout_keep_alive=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    async def go() -> None:
        pool = FastHttpPool("127.0.0.1", port)
        first = await pool.request("POST", "/e", b"one", {"X-A": "1"})
        assert (first.status, first.body) == (200, b"one")
        await asyncio.sleep(1.5)  # the server drops the idle keep-alive connection
        second = await pool.request("POST", "/e", b"two", {})
        assert (second.status, second.body) == (200, b"two")
        pool.close()
        with pytest.raises(AppUnavailable):
            await FastHttpPool("127.0.0.1", free_port()).request("POST", "/e", b"", {})

    try:
        asyncio.run(go())
    finally:
        server.should_exit = True
        thread.join(5)


def test_resiliency_lookup():
    from funchost.sidecar.resiliency import DEFAULT_RETRY, Resiliency

    spec = {
        "policies": {
            "retries": {"r": {"policy": "exponential", "maxInterval": "10s", "maxRetries": 5}},
            "timeouts": {"quick": "2s"},
        },
        "targets": {
            "components": {
                "pubsub": {"inbound": {"retry": "r", "timeout": "quick"}},
                "other": {"inbound": {"timeout": "500ms"}},
            }
        },
    }
    res = Resiliency([("r.yaml", spec)])
    assert res.component_retry("pubsub").policy == "exponential"
    assert res.component_retry("pubsub").max_retries == 5
    assert res.component_retry("other") == DEFAULT_RETRY
    assert res.component_timeout("pubsub") == 2.0
    assert res.component_timeout("other") == 0.5
    assert res.component_timeout("nothing") is None
