"""The workflow management HTTP API (`/v1.0/workflows/dapr/...`), as curl users call it."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import WfEnv

pytestmark = pytest.mark.e2e


def test_http_lifecycle(wfenv: WfEnv) -> None:
    base = f"{wfenv.sidecar.http_url}/v1.0/workflows/dapr"
    with httpx.Client(timeout=10) as http:
        r = http.post(f"{base}/approval/start", params={"instanceID": "http-1"}, json="order-9")
        assert r.status_code == 202 and r.json() == {"instanceID": "http-1"}
        r = http.post(f"{base}/approval/start", params={"instanceID": "http-1"}, json="again")
        assert r.status_code == 409 and r.json()["errorCode"] == "ERR_START_WORKFLOW"
        wfenv.settle()
        doc = http.get(f"{base}/http-1").json()
        assert doc["instanceID"] == "http-1" and doc["workflowName"] == "approval"
        assert doc["runtimeStatus"] == "RUNNING"
        assert json.loads(doc["properties"]["dapr.workflow.input"]) == "order-9"

        assert http.post(f"{base}/http-1/pause").status_code == 202
        assert http.get(f"{base}/http-1").json()["runtimeStatus"] == "SUSPENDED"
        assert http.post(f"{base}/http-1/resume").status_code == 202
        assert http.get(f"{base}/http-1").json()["runtimeStatus"] == "RUNNING"

        r = http.post(f"{base}/http-1/raiseEvent/approval", json={"by": "ops"})
        assert r.status_code == 202
        state = wfenv.wait("http-1")
        assert json.loads(state.serialized_output) == "order-9: {'by': 'ops'}"
        doc = http.get(f"{base}/http-1").json()
        assert doc["runtimeStatus"] == "COMPLETED"
        assert json.loads(doc["properties"]["dapr.workflow.output"]) == "order-9: {'by': 'ops'}"

        assert http.post(f"{base}/http-1/purge").status_code == 202
        r = http.get(f"{base}/http-1")
        assert r.status_code == 404 and r.json()["errorCode"] == "ERR_GET_WORKFLOW"


def test_http_terminate_and_purge_rules(wfenv: WfEnv) -> None:
    base = f"{wfenv.sidecar.http_url}/v1.0/workflows/dapr"
    with httpx.Client(timeout=10) as http:
        iid = http.post(f"{base}/waits_forever/start").json()["instanceID"]
        assert iid
        wfenv.settle()
        r = http.post(f"{base}/{iid}/purge")
        assert r.status_code == 400 and "only completed" in r.json()["message"]
        assert http.post(f"{base}/{iid}/terminate").status_code == 202
        assert wfenv.wait(iid).runtime_status.name == "TERMINATED"
        assert http.post(f"{base}/{iid}/purge").status_code == 202
        assert http.post(f"{base}/nope/raiseEvent/x").status_code == 404


def test_metadata_reports_connected_workers(wfenv: WfEnv) -> None:
    doc = httpx.get(f"{wfenv.sidecar.http_url}/v1.0/metadata", timeout=10).json()
    assert doc["workflows"]["connectedWorkers"] >= 1
