"""The embedded sidecar's `/funchost/v1/` inspection routes, over HTTP on a real sidecar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funchost.sidecar import free_port
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread

TOKEN = "introspection-token"


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarThread]:
    """A sidecar with no app (workflows stay PENDING), guarded by an API token."""
    config = SidecarConfig(
        app_id="introspect",
        http_port=free_port(),
        grpc_port=0,
        db_path=tmp_path / "sidecar.db",
        api_token=TOKEN,
    )
    thread = SidecarThread(Sidecar(config))
    thread.start()
    yield thread
    thread.stop()


def test_workflow_pages_filters_and_search(sidecar: SidecarThread) -> None:
    headers = {"dapr-api-token": TOKEN}
    with httpx.Client(base_url=sidecar.sidecar.http_url, headers=headers) as http:
        for i in range(120):
            resp = http.post(f"/v1.0/workflows/dapr/order/start?instanceID=order-{i:03d}", json=i)
            assert resp.status_code == 202, resp.text
        for i in range(0, 120, 10):  # never started: terminated at once
            assert http.post(f"/v1.0/workflows/dapr/order-{i:03d}/terminate").status_code == 202

        page = http.get("/funchost/v1/workflows", params={"limit": 50, "offset": 100}).json()
        assert page["total"] == 120
        assert [w["instanceID"] for w in page["items"]] == [
            f"order-{i:03d}" for i in range(19, -1, -1)
        ]
        first = http.get("/funchost/v1/workflows", params={"limit": 50}).json()["items"]
        assert first[0]["instanceID"] == "order-119"  # newest first
        assert first[0]["runtimeStatus"] == "PENDING" and first[0]["workflowName"] == "order"

        ended = http.get("/funchost/v1/workflows", params={"status": "terminated"}).json()
        assert ended["total"] == 12
        assert {w["runtimeStatus"] for w in ended["items"]} == {"TERMINATED"}
        found = http.get("/funchost/v1/workflows", params={"q": "der-05"}).json()
        assert [w["instanceID"] for w in found["items"]] == [
            f"order-05{i}" for i in range(9, -1, -1)
        ]
        assert http.get("/funchost/v1/workflows", params={"q": "%"}).json()["total"] == 0

        bad = http.get("/funchost/v1/workflows", params={"status": "DONE"})
        assert bad.status_code == 400 and "unknown workflow status 'DONE'" in bad.json()["message"]
        bad = http.get("/funchost/v1/workflows", params={"limit": "ten"})
        assert bad.status_code == 400 and bad.json()["errorCode"] == "ERR_MALFORMED_REQUEST"

        assert httpx.get(f"{sidecar.sidecar.http_url}/funchost/v1/workflows").status_code == 401

    plan = sidecar.sidecar.store.query(
        "EXPLAIN QUERY PLAN SELECT instance_id FROM wf_instances WHERE status = 5"
        " ORDER BY created DESC LIMIT 50 OFFSET 0"
    )
    assert "wf_instances_status_created" in " ".join(str(r["detail"]) for r in plan)


def test_unknown_dead_letter(sidecar: SidecarThread) -> None:
    headers = {"dapr-api-token": TOKEN}
    with httpx.Client(base_url=sidecar.sidecar.http_url, headers=headers) as http:
        assert http.get("/funchost/v1/deadletters").json() == {"total": 0, "deadLetters": []}
        resp = http.post("/funchost/v1/deadletters/41/redrive")
        assert resp.status_code == 404
        assert resp.json()["errorCode"] == "ERR_DEAD_LETTER_NOT_FOUND"
        assert http.delete("/funchost/v1/deadletters/41").status_code == 404
        assert http.get("/funchost/v1/actors").json()["types"] == []
        assert http.get("/funchost/v1/topics").json()["topics"] == []
