"""Acting as daprd: subscription listing and CloudEvent deliveries (PROTOCOL.md section 1)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.host._events import CE, cloudevent


async def deliver(client: httpx.AsyncClient, path: str, event: dict[str, Any]) -> str:
    resp = await client.post(path, content=json.dumps(event), headers={"content-type": CE})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["status"])


async def test_subscribe_lists_v2_items_with_rules_dead_letters_and_bulk(client) -> None:
    resp = await client.get("/dapr/subscribe")
    assert resp.status_code == 200
    items = {item["topic"]: item for item in resp.json()}
    assert items["orders"] == {
        "pubsubname": "pubsub",
        "topic": "orders",
        "routes": {
            "rules": [{"match": "event.type == 'refund'", "path": "/orders/refund"}],
            "default": "/events/pubsub/orders/on_order",
        },
        "deadLetterTopic": "orders-dlq",
    }
    assert items["raw"]["metadata"] == {"rawPayload": "true"}
    assert items["pings"]["bulkSubscribe"] == {
        "enabled": True,
        "maxMessagesCount": 10,
        "maxAwaitDurationMs": 1000,
    }


async def test_success_retry_drop_mapping(client, seen) -> None:
    path = "/events/pubsub/orders/on_order"
    assert await deliver(client, path, cloudevent({"id": "o1", "amount": 5})) == "SUCCESS"
    assert seen == [("order", "o1", "5929aaac-a5e2-4ca1-859c-edfe73f11565")]
    assert await deliver(client, path, cloudevent({"id": "o2", "amount": -1})) == "DROP"
    assert await deliver(client, path, cloudevent({"id": "flaky", "amount": 1})) == "RETRY"
    assert await deliver(client, path, cloudevent({"id": "boom", "amount": 1})) == "RETRY"
    assert len(seen) == 1


async def test_invalid_typed_payload_is_dropped(client, seen) -> None:
    status = await deliver(client, "/events/pubsub/orders/on_order", cloudevent({"id": "o1"}))
    assert status == "DROP"
    status = await deliver(client, "/events/pubsub/orders/on_order", cloudevent("not json"))
    assert status == "DROP"
    assert seen == []


async def test_string_json_data_and_sync_handler_on_rule_path(client, seen) -> None:
    event = cloudevent(
        json.dumps({"id": "r1", "amount": 2}), type="refund", datacontenttype="text/plain"
    )
    assert await deliver(client, "/orders/refund", event) == "SUCCESS"
    assert seen == [("refund", "r1")]


async def test_binary_data_base64_and_raw_payload(client, seen) -> None:
    blob = bytes(range(256))
    event = cloudevent(
        topic="raw",
        datacontenttype="application/octet-stream",
        data_base64=base64.b64encode(blob).decode(),
    )
    assert await deliver(client, "/events/pubsub/raw/on_raw", event) == "SUCCESS"
    assert seen == [("raw", blob, "application/octet-stream")]


async def test_raw_body_without_envelope(client, seen) -> None:
    resp = await client.post(
        "/events/pubsub/raw/on_raw",
        content=b"\x00\x01raw",
        headers={"content-type": "application/octet-stream"},
    )
    assert resp.json() == {"status": "SUCCESS"}
    assert seen == [("raw", b"\x00\x01raw", None)]


async def test_binary_mode_cloudevent_headers(client, seen) -> None:
    headers = {
        "ce-id": "b1",
        "ce-specversion": "1.0",
        "ce-type": "com.dapr.event.sent",
        "ce-source": "x",
        "content-type": "application/json",
    }
    resp = await client.post(
        "/events/pubsub/orders/on_order",
        content=json.dumps({"id": "b1", "amount": 1}),
        headers=headers,
    )
    assert resp.json() == {"status": "SUCCESS"}
    assert seen == [("order", "b1", "b1")]


async def test_bulk_delivery_replies_statuses(client, seen) -> None:
    body = {
        "id": "bulk-1",
        "type": "com.dapr.event.sent.bulk",
        "topic": "pings",
        "pubsubname": "pubsub",
        "metadata": {},
        "entries": [
            {
                "entryId": "a",
                "event": cloudevent({"n": 1}, topic="pings"),
                "metadata": {},
                "contentType": CE,
            },
            {
                "entryId": "b",
                "event": cloudevent({"n": "nope"}, topic="pings"),
                "metadata": {},
                "contentType": CE,
            },
            {
                "entryId": "c",
                "event": cloudevent({"n": 3}, topic="pings"),
                "metadata": {},
                "contentType": CE,
            },
        ],
    }
    resp = await client.post("/events/pubsub/pings/on_pings", json=body)
    assert resp.status_code == 200
    statuses = {s["entryId"]: s["status"] for s in resp.json()["statuses"]}
    assert statuses == {"a": "SUCCESS", "b": "DROP", "c": "SUCCESS"}
    assert seen == [("pings", [1, 3])]


async def test_per_entry_bulk_handler_and_dict_result() -> None:
    from funchost import Retry, Settings, create_app, topic
    from tests.host.conftest import make_client

    calls: list[int] = []

    @topic("pubsub", "jobs", bulk=True)
    async def one_by_one(n: int) -> None:
        if n < 0:
            raise Retry("later")
        calls.append(n)

    app = create_app([one_by_one], Settings(workflows=False))
    entries = [
        {"entryId": str(i), "event": cloudevent(n, topic="jobs"), "contentType": CE}
        for i, n in enumerate([1, -1, 2])
    ]
    async with make_client(app) as c:
        resp = await c.post("/events/pubsub/jobs/one_by_one", json={"entries": entries})
    assert resp.json() == {
        "statuses": [
            {"entryId": "0", "status": "SUCCESS"},
            {"entryId": "1", "status": "RETRY"},
            {"entryId": "2", "status": "SUCCESS"},
        ]
    }
    assert sorted(calls) == [1, 2]
