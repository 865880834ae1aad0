"""Actors across apps: the `Counter` type hosted by one app is called from another app's
sidecar (placement through the name registry); its state lives with the host, and reminders,
whether set by the actor or through the caller's sidecar, fire in the hosting app."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import httpx
import pytest
from dapr.actor import ActorId, ActorProxy
from dapr.proto import api_service_v1, api_v1

from funchost.sidecar import free_port

from .actor_host.counter import CounterInterface
from .conftest import FUNCHOST, HERE, Apps

STATE = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: actorStateStore
      value: "true"
"""


def _lines(record: Path) -> list[str]:
    return record.read_text().splitlines() if record.exists() else []


def _until_line(record: Path, line: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in _lines(record):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {line!r} in {_lines(record)}")


async def test_actor_hosted_by_another_app(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "statestore.yaml").write_text(STATE)
    record = tmp_path / "reminders.txt"
    port = free_port()
    host_sidecar = apps.spawn(
        apps.sidecar_args("counter-app", port, resources), "counter-app-sidecar.log"
    )
    host = apps.wait_registered("counter-app", host_sidecar)
    apps.spawn(
        [*FUNCHOST, "serve", str(HERE / "actor_host"), "--port", str(port)],
        "counter-app-app.log",
        APP_ID="counter-app",
        DAPR_HTTP_PORT=str(host.http_port),
        DAPR_GRPC_PORT=str(host.grpc_port),
        ACTOR_RECORD=str(record),
    )
    caller_sidecar = apps.spawn(apps.sidecar_args("caller-app", None, resources), "caller.log")
    caller = apps.wait_registered("caller-app", caller_sidecar)
    with httpx.Client(timeout=30) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the host sidecar read the app's actor types
            meta = http.get(f"{host.http_url}/v1.0/metadata").json()
            if any(a["type"] == "Counter" for a in meta.get("actors", [])):
                break
            time.sleep(0.1)
        # the SDK's actor proxy, pointed at the caller's sidecar (which hosts no actor)
        monkeypatch.setenv("DAPR_HTTP_PORT", str(caller.http_port))
        proxy = ActorProxy.create("Counter", ActorId("c1"), CounterInterface)
        assert await proxy.Add(2) == {"app": "counter-app", "total": 2}
        assert await proxy.Add(3) == {"app": "counter-app", "total": 5}
        # the state is the host's: read through the host's sidecar
        got = http.get(f"{host.http_url}/v1.0/actors/Counter/c1/state/total")
        assert got.status_code == 200 and got.json() == 5
        # a reminder the actor sets on itself fires in the hosting app
        await proxy.Remind("r1")
        _until_line(record, "counter-app c1 r1")
        # a reminder set through the caller's sidecar is forwarded, and fires in the host
        r = http.post(
            f"{caller.http_url}/v1.0/actors/Counter/c2/reminders/r2", json={"dueTime": "0s"}
        )
        assert r.status_code == 204, r.text
        _until_line(record, "counter-app c2 r2")
        # gRPC InvokeActor on the caller's sidecar is forwarded as well
        with grpc.insecure_channel(caller.grpc_address) as channel:
            stub = api_service_v1.DaprStub(channel)
            req = api_v1.InvokeActorRequest(
                actor_type="Counter", actor_id="c1", method="Add", data=b"1"
            )
            resp = stub.InvokeActor(req, timeout=30)
        assert json.loads(resp.data) == {"app": "counter-app", "total": 6}
        # a type nobody hosts: daprd's error, naming the type
        r = http.post(f"{caller.http_url}/v1.0/actors/Nobody/x/method/Do", json={})
        assert r.status_code == 500
        assert r.json()["errorCode"] == "ERR_ACTOR_INSTANCE_MISSING"
        assert "Nobody" in r.json()["message"]
