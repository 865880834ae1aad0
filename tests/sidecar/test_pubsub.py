"""Pub/sub end to end: SDK publish -> durable outbox -> CloudEvent delivery to a real app."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from starlette.responses import JSONResponse, Response

from .conftest import run

pytestmark = pytest.mark.e2e

RETRY_2X = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    retries:
      twice: {policy: constant, duration: 5s, maxRetries: 2}
  targets:
    components:
      pubsub: {inbound: {retry: twice}}
"""


def test_publish_delivers_cloudevent(make_sidecar, recording_app):
    recording_app.subscriptions = [{"pubsubname": "pubsub", "topic": "orders", "route": "/o"}]
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as client:
        client.publish_event(
            "pubsub",
            "orders",
            json.dumps({"n": 1}),
            data_content_type="application/json",
            publish_metadata={"x-custom": "yes"},
        )
    (got,) = recording_app.wait_for("/o")
    event = got.json()
    assert got.headers["content-type"] == "application/cloudevents+json"
    assert got.headers["x-custom"] == "yes"
    assert event["data"] == {"n": 1}
    assert event["specversion"] == "1.0"
    assert event["type"] == "com.dapr.event.sent"
    assert event["source"] == "testapp"
    assert event["topic"] == "orders" and event["pubsubname"] == "pubsub"
    assert event["datacontenttype"] == "application/json"
    assert event["traceparent"].startswith("00-") and event["traceid"] == event["traceparent"]
    assert got.headers["traceparent"] == event["traceparent"]
    assert event["time"].endswith("Z") and event["id"]
    h.idle()
    assert h.sidecar.store.query("SELECT * FROM pubsub_outbox") == []


def test_text_binary_passthrough_and_raw_payload(make_sidecar, recording_app):
    recording_app.subscriptions = [
        {"pubsubname": "pubsub", "topic": "t", "route": "/t"},
        {
            "pubsubname": "pubsub",
            "topic": "raw",
            "route": "/raw",
            "metadata": {"rawPayload": "true"},
        },
    ]
    h = make_sidecar()
    ce = {"id": "my-id", "source": "elsewhere", "type": "my.type", "specversion": "1.0", "data": 7}

    async def go() -> None:
        async with AsyncDaprClient(address=h.grpc_address) as client:
            await client.publish_event("pubsub", "t", "hello", data_content_type="text/plain")
            await client.publish_event(
                "pubsub", "t", b"\x00\x01", data_content_type="application/octet-stream"
            )
            await client.publish_event(
                "pubsub", "t", json.dumps(ce), data_content_type="application/cloudevents+json"
            )
            await client.publish_event(
                "pubsub", "raw", b"rawbytes", publish_metadata={"rawPayload": "true"}
            )

    run(go())
    events = [r.json() for r in recording_app.wait_for("/t", 3)]
    by_id = {e["id"]: e for e in events}
    passthrough = by_id["my-id"]
    assert passthrough["source"] == "elsewhere" and passthrough["type"] == "my.type"
    assert passthrough["topic"] == "t" and passthrough["pubsubname"] == "pubsub"
    assert passthrough["data"] == 7 and passthrough["traceparent"]
    assert any(e.get("data") == "hello" and e["datacontenttype"] == "text/plain" for e in events)
    binary = [e for e in events if "data_base64" in e]
    assert base64.b64decode(binary[0]["data_base64"]) == b"\x00\x01"
    (raw,) = recording_app.wait_for("/raw")
    raw_event = raw.json()
    assert raw_event["datacontenttype"] == "application/octet-stream"
    assert base64.b64decode(raw_event["data_base64"]) == b"rawbytes"


def test_routing_rules_cel(make_sidecar, recording_app):
    recording_app.subscriptions = [
        {
            "pubsubname": "pubsub",
            "topic": "shapes",
            "routes": {
                "rules": [
                    {"match": "event.type == 'widget'", "path": "/widgets"},
                    {"match": "event.data.size > 10", "path": "/big"},
                ],
                "default": "/other",
            },
        }
    ]
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as client:
        for data, meta in (
            ({"size": 1}, {"cloudevent.type": "widget"}),
            ({"size": 50}, {}),
            ({"size": 2}, {}),
        ):
            client.publish_event(
                "pubsub",
                "shapes",
                json.dumps(data),
                data_content_type="application/json",
                publish_metadata=meta,
            )
    h.idle()
    assert [r.json()["data"] for r in recording_app.at("/widgets")] == [{"size": 1}]
    assert [r.json()["data"] for r in recording_app.at("/big")] == [{"size": 50}]
    assert [r.json()["data"] for r in recording_app.at("/other")] == [{"size": 2}]


def test_retry_then_success(make_sidecar, recording_app):
    calls = {"n": 0}

    def flaky(rec):
        calls["n"] += 1
        return JSONResponse({"status": "RETRY"} if calls["n"] < 3 else {"status": "SUCCESS"})

    recording_app.subscriptions = [{"pubsubname": "pubsub", "topic": "f", "route": "/f"}]
    recording_app.handlers["/f"] = flaky
    h = make_sidecar({"res.yaml": RETRY_2X})
    with DaprClient(address=h.grpc_address) as client:
        client.publish_event("pubsub", "f", "x")
    h.idle()
    assert calls["n"] == 1
    h.advance(5)
    assert calls["n"] == 2
    h.advance(5)
    assert calls["n"] == 3
    h.advance(60)
    assert calls["n"] == 3
    assert h.sidecar.store.query("SELECT * FROM pubsub_outbox") == []


def test_a_publish_committing_while_subscriptions_reload_is_delivered_once(
    make_sidecar, recording_app
):
    """A publish waiting for its commit when the app's subscriptions are read again (start-up,
    a hot reload) was routed by that commit and again from the backlog: two deliveries, then
    two retry chains in lockstep."""
    recording_app.subscriptions = [{"pubsubname": "pubsub", "topic": "once", "route": "/once"}]
    h = make_sidecar()
    pubsub = h.sub("pubsub")

    async def publish_during_reload() -> None:
        published = asyncio.ensure_future(pubsub.publish("pubsub", "once", b"x", "text/plain"))
        await asyncio.sleep(0)  # the publish now waits for the next commit
        await pubsub.set_subscriptions([s.sdef for s in pubsub.subs.values()])
        await published

    h.thread.call(publish_during_reload())
    h.idle()
    assert len(recording_app.at("/once")) == 1
    assert h.sidecar.store.query("SELECT * FROM pubsub_outbox") == []


def test_always_failing_goes_to_dead_letter_after_configured_attempts(make_sidecar, recording_app):
    recording_app.subscriptions = [
        {"pubsubname": "pubsub", "topic": "bad", "route": "/bad", "deadLetterTopic": "bad-dlq"},
        {"pubsubname": "pubsub", "topic": "bad-dlq", "route": "/dlq"},
    ]
    recording_app.handlers["/bad"] = lambda rec: Response(status_code=500)
    h = make_sidecar({"res.yaml": RETRY_2X})
    with DaprClient(address=h.grpc_address) as client:
        client.publish_event(
            "pubsub", "bad", json.dumps({"k": "v"}), data_content_type="application/json"
        )
    h.idle()
    h.advance(60)
    attempts = recording_app.at("/bad")
    assert len(attempts) == 3  # 1 + maxRetries 2
    (dead,) = recording_app.at("/dlq")
    assert dead.json()["data"] == {"k": "v"}
    assert dead.json()["id"] == attempts[0].json()["id"]


def test_default_policy_is_constant_1s_three_retries(make_sidecar, recording_app):
    recording_app.subscriptions = [{"pubsubname": "pubsub", "topic": "d", "route": "/d"}]
    recording_app.handlers["/d"] = lambda rec: JSONResponse({"status": "RETRY"})
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as client:
        client.publish_event("pubsub", "d", "x")
    h.idle()
    h.advance(0.5)
    assert len(recording_app.at("/d")) == 1
    h.advance(10)
    assert len(recording_app.at("/d")) == 4


def test_drop_and_404(make_sidecar, recording_app):
    recording_app.subscriptions = [
        {"pubsubname": "pubsub", "topic": "drop", "route": "/drop", "deadLetterTopic": "dl"},
        {"pubsubname": "pubsub", "topic": "dl", "route": "/dl"},
        {"pubsubname": "pubsub", "topic": "gone", "route": "/gone", "deadLetterTopic": "dl"},
    ]
    recording_app.handlers["/drop"] = lambda rec: JSONResponse({"status": "DROP"})
    recording_app.handlers["/gone"] = lambda rec: Response(status_code=404)
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as client:
        client.publish_event("pubsub", "drop", "a")
        client.publish_event("pubsub", "gone", "b")
    h.idle()
    h.advance(30)
    assert len(recording_app.at("/drop")) == 1
    assert len(recording_app.at("/gone")) == 1
    assert [r.json()["data"] for r in recording_app.at("/dl")] == ["a"]


def test_bulk_subscribe_and_bulk_publish(make_sidecar, recording_app):
    recording_app.subscriptions = [
        {
            "pubsubname": "pubsub",
            "topic": "many",
            "route": "/many",
            "bulkSubscribe": {"enabled": True, "maxMessagesCount": 10, "maxAwaitDurationMs": 10},
        }
    ]
    seen: list[str] = []

    def bulk(rec):
        body = rec.json()
        statuses = []
        for entry in body["entries"]:
            seen.append(entry["event"]["data"])
            status = (
                "RETRY" if entry["event"]["data"] == "c" and seen.count("c") == 1 else "SUCCESS"
            )
            statuses.append({"entryId": entry["entryId"], "status": status})
        return JSONResponse({"statuses": statuses})

    recording_app.handlers["/many"] = bulk
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as client:
        resp = client.publish_events(
            "pubsub", "many", ["a", "b", "c"], data_content_type="text/plain"
        )
        assert resp.failed_entries == []
    h.idle()
    first = recording_app.at("/many")[0].json()
    assert first["type"] == "com.dapr.event.sent.bulk" and first["topic"] == "many"
    assert [e["event"]["data"] for e in first["entries"]] == ["a", "b", "c"]
    h.advance(2)
    assert sorted(seen) == ["a", "b", "c", "c"]
    assert h.sidecar.store.query("SELECT * FROM pubsub_outbox") == []


def test_declarative_subscription_and_http_publish(make_sidecar, recording_app):
    import httpx

    yaml_sub = """
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s}
spec:
  pubsubname: pubsub
  topic: decl
  routes:
    rules:
      - {match: "event.data.kind == 'a'", path: /a}
    default: /fallback
scopes: [testapp]
"""
    h = make_sidecar({"sub.yaml": yaml_sub})
    r = httpx.post(f"{h.http_url}/v1.0/publish/pubsub/decl", json={"kind": "a"})
    assert r.status_code == 204
    r = httpx.post(
        f"{h.http_url}/v1.0-alpha1/publish/bulk/pubsub/decl",
        json=[
            {"entryId": "1", "event": {"kind": "b"}, "contentType": "application/json"},
            {"entryId": "2", "event": {"kind": "a"}, "contentType": "application/json"},
        ],
    )
    assert r.status_code == 204
    # Go's encoding/json matches field names ignoring case: the JS SDK sends `entryID`
    r = httpx.post(
        f"{h.http_url}/v1.0/publish/bulk/pubsub/decl",
        json=[{"entryID": "3", "Event": {"kind": "a"}, "CONTENTTYPE": "application/json"}],
    )
    assert r.status_code == 204, r.text
    r = httpx.post(
        f"{h.http_url}/v1.0/publish/bulk/pubsub/decl",
        json=[{"entryID": "4", "event": 1}, {"EntryId": "4", "event": 2}],
    )
    assert r.status_code == 400 and r.json()["errorCode"] == "ERR_PUBSUB_EVENTS_SER"
    h.idle()
    assert len(recording_app.at("/a")) == 3
    assert [x.json()["data"] for x in recording_app.at("/fallback")] == [{"kind": "b"}]
    r = httpx.post(f"{h.http_url}/v1.0/publish/nope/decl", json={})
    assert r.status_code == 404 and r.json()["errorCode"] == "ERR_PUBSUB_NOT_FOUND"
    meta = httpx.get(f"{h.http_url}/v1.0/metadata").json()
    assert any(s["topic"] == "decl" for s in meta["subscriptions"])


def test_streaming_subscription(make_sidecar):
    h = make_sidecar({"res.yaml": RETRY_2X}, app=False)  # no app: events wait for a subscriber
    with DaprClient(address=h.grpc_address) as client:
        client.publish_event("pubsub", "early", "before", data_content_type="text/plain")
        sub = client.subscribe("pubsub", "early", dead_letter_topic="early-dlq")
        try:
            first = sub.next_message()  # published before the stream opened: kept, delivered
            assert first.data() == "before" and first.topic() == "early"
            sub.respond_success(first)
            client.publish_event(
                "pubsub", "early", json.dumps({"n": 1}), data_content_type="application/json"
            )
            msg = sub.next_message()
            assert msg.data() == {"n": 1}
            sub.respond_retry(msg)
            h.advance(5)
            again = sub.next_message()
            assert again.id() == msg.id() and again.data() == {"n": 1}
            sub.respond_success(again)
            h.idle()
        finally:
            sub.close()
        with pytest.raises(Exception, match="not found"):
            client.subscribe("nope", "t").next_message()
    assert h.sidecar.store.query("SELECT * FROM pubsub_outbox") == []
