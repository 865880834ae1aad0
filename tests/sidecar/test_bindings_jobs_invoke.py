"""Cron/input/output bindings, the Jobs API (virtual clock), service invocation, API tokens."""

from __future__ import annotations

import json

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._jobs import Job
from google.protobuf.any_pb2 import Any as GrpcAny
from starlette.responses import JSONResponse, Response

from funchost.sidecar.runner import list_outbox, send_binding

pytestmark = pytest.mark.e2e


def _bindings(tmp_path) -> dict[str, str]:
    return {
        "bindings.yaml": f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: tick}}
spec:
  type: bindings.cron
  version: v1
  metadata:
    - {{name: schedule, value: "@every 10s"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: files}}
spec:
  type: bindings.localstorage
  metadata:
    - {{name: rootPath, value: "{tmp_path / "files"}"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: queue}}
spec:
  type: bindings.kafka
  metadata:
    - {{name: topics, value: orders}}
"""
    }


def test_cron_binding_fires_on_virtual_clock(make_sidecar, recording_app, tmp_path):
    h = make_sidecar(_bindings(tmp_path))
    assert [r.method for r in recording_app.received if r.path == "/tick"] == ["OPTIONS"]
    h.advance(9)
    assert recording_app.at("/tick") == []
    h.advance(1)
    assert len(recording_app.at("/tick")) == 1
    h.advance(30)
    ticks = recording_app.at("/tick")
    assert len(ticks) == 4
    assert ticks[0].headers["content-type"] == "application/json"
    assert "readtimeutc" in ticks[0].headers


def test_cron_not_fired_when_app_does_not_listen(make_sidecar, recording_app, tmp_path):
    recording_app.handlers["/tick"] = lambda rec: Response(status_code=404)
    h = make_sidecar(_bindings(tmp_path))
    h.advance(60)
    assert [r.method for r in recording_app.received if r.path == "/tick"] == ["OPTIONS"]


def test_input_feed_and_output_bindings(make_sidecar, recording_app, tmp_path):
    recording_app.handlers["/queue"] = lambda rec: (
        JSONResponse({"got": rec.json()}) if rec.method == "POST" else Response()
    )
    h = make_sidecar(_bindings(tmp_path))
    status, body = send_binding(h.http_url, "queue", {"order": 1}, metadata={"key": "k1"})
    assert status == 200 and json.loads(body) == {"got": {"order": 1}}
    (fed,) = recording_app.at("/queue")
    assert fed.headers["key"] == "k1"
    with DaprClient(address=h.grpc_address) as c:
        c.invoke_binding("files", "create", b"hello", {"fileName": "a/b.txt"})
        assert (tmp_path / "files" / "a" / "b.txt").read_bytes() == b"hello"
        assert c.invoke_binding("files", "get", b"", {"fileName": "a/b.txt"}).data == b"hello"
        listed = json.loads(c.invoke_binding("files", "list", b"").data)
        assert listed == ["a/b.txt"]
        c.invoke_binding("files", "delete", b"", {"fileName": "a/b.txt"})
        assert not (tmp_path / "files" / "a" / "b.txt").exists()
        with pytest.raises(grpc.RpcError):
            c.invoke_binding("files", "create", b"x", {"fileName": "../escape"})
        c.invoke_binding("queue", "create", json.dumps({"n": 2}).encode(), {"partitionKey": "p"})
    entries = list_outbox(h.http_url)
    assert [(e["binding"], e["operation"], e["data"]) for e in entries] == [
        ("queue", "create", {"n": 2})
    ]
    assert entries[0]["metadata"] == {"partitionKey": "p"}
    assert list_outbox(h.sidecar.config.db_path)[0]["type"] == "bindings.kafka"


def test_http_output_binding(make_sidecar, recording_app):
    hook = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: hook}}
spec:
  type: bindings.http
  metadata:
    - {{name: url, value: "http://127.0.0.1:{recording_app.port}/hooks"}}
"""
    recording_app.handlers["/hooks/x"] = lambda rec: JSONResponse({"echo": rec.body.decode()})
    h = make_sidecar({"hook.yaml": hook})
    r = httpx.post(
        f"{h.http_url}/v1.0/bindings/hook",
        json={"operation": "post", "data": "payload", "metadata": {"path": "x"}},
    )
    assert r.status_code == 200 and r.json() == {"echo": '"payload"'}  # daprd JSON-encodes data
    assert r.headers["metadata.statuscode"] == "200"


def test_jobs_schedule_fire_and_delete(make_sidecar, recording_app):
    h = make_sidecar()
    data = GrpcAny(value=json.dumps({"task": "sweep"}).encode())
    with DaprClient(address=h.grpc_address) as c:
        c.schedule_job(Job(name="sweep", schedule="@every 10s", repeats=3, data=data))
        c.schedule_job(Job(name="once", due_time="5s"))
        got = c.get_job("sweep")
        assert got.schedule == "@every 10s" and got.repeats == 3
        with pytest.raises(DaprGrpcError) as err:
            c.schedule_job(Job(name="sweep", schedule="@every 1s"))
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    h.advance(5)
    assert len(recording_app.at("/job/once")) == 1
    h.advance(60)
    sweeps = recording_app.at("/job/sweep")
    assert len(sweeps) == 3 and sweeps[0].json() == {"task": "sweep"}
    assert len(recording_app.at("/job/once")) == 1
    with DaprClient(address=h.grpc_address) as c, pytest.raises(DaprGrpcError):
        c.get_job("sweep")


def test_jobs_ttl_and_due_time_with_schedule(make_sidecar, recording_app):
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as c:
        c.schedule_job(Job(name="short", schedule="@every 10s", ttl="25s"))
        c.schedule_job(Job(name="later", schedule="@every 10s", due_time="30s", repeats=2))
    h.advance(100)
    assert len(recording_app.at("/job/short")) == 2  # 10s, 20s; expired at 25s
    assert len(recording_app.at("/job/later")) == 2  # 30s, 40s
    assert h.sidecar.store.query("SELECT name FROM job_jobs") == []


def test_jobs_http_api_and_cron_with_seconds(make_sidecar, recording_app):
    h = make_sidecar()
    url = f"{h.http_url}/v1.0-alpha1/jobs/nightly"
    r = httpx.post(url, json={"schedule": "*/20 * * * * *", "data": {"kind": "cron"}})
    assert r.status_code == 204
    assert httpx.get(url).json() == {
        "name": "nightly",
        "schedule": "*/20 * * * * *",
        "data": {"kind": "cron"},
    }
    h.advance(61)
    fired = recording_app.at("/job/nightly")
    assert len(fired) == 3 and fired[0].json() == {"kind": "cron"}
    assert httpx.delete(url).status_code == 204
    assert httpx.get(url).status_code == 404
    h.advance(60)
    assert len(recording_app.at("/job/nightly")) == 3
    bad = httpx.post(f"{h.http_url}/v1.0-alpha1/jobs/bad", json={"schedule": "61 * * * *"})
    assert bad.status_code == 400


def test_jobs_survive_restart(make_sidecar, recording_app):
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as c:
        c.schedule_job(Job(name="later", due_time="1h"))
    h.thread.stop()
    h2 = make_sidecar()
    with DaprClient(address=h2.grpc_address) as c:
        assert c.get_job("later").due_time == "1h"


def test_service_invocation(make_sidecar, recording_app):
    recording_app.handlers["/tasks/7"] = lambda rec: JSONResponse(
        {"method": rec.method, "q": rec.query, "body": rec.body.decode()},
        status_code=201,
        headers={"x-reply": "r"},
    )
    h = make_sidecar()
    r = httpx.put(
        f"{h.http_url}/v1.0/invoke/testapp/method/tasks/7?a=1&b=2",
        content=b"data",
        headers={"x-extra": "e"},
    )
    assert r.status_code == 201 and r.headers["x-reply"] == "r"
    assert r.json() == {"method": "PUT", "q": "a=1&b=2", "body": "data"}
    assert recording_app.at("/tasks/7")[0].headers["x-extra"] == "e"
    r = httpx.get(f"{h.http_url}/v1.0/invoke/other/method/x")
    assert r.status_code == 500 and r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    with DaprClient(address=h.grpc_address) as c:
        resp = c.invoke_method("testapp", "tasks/7", data=b"g", http_verb="POST")
        assert json.loads(resp.data)["body"] == "g"


def test_api_token_required(make_sidecar):
    h = make_sidecar(app=False, api_token="s3cret")
    assert httpx.get(f"{h.http_url}/v1.0/state/statestore/k").status_code == 401
    ok = httpx.get(f"{h.http_url}/v1.0/state/statestore/k", headers={"dapr-api-token": "s3cret"})
    assert ok.status_code == 204
    channel = grpc.insecure_channel(h.grpc_address)
    from dapr.proto import api_v1
    from dapr.proto.runtime.v1.dapr_pb2_grpc import DaprStub

    stub = DaprStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetState(api_v1.GetStateRequest(store_name="statestore", key="k"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with DaprClient(address=h.grpc_address) as c:  # DAPR_API_TOKEN set by the fixture
        c.save_state("statestore", "k", "v")
        assert c.get_state("statestore", "k").data == b"v"
    channel.close()
