"""Service invocation across apps, real processes: caller sidecar -> target sidecar -> app."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc.client import DaprGrpcClient
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from funchost.sidecar import free_port, resolution

from .conftest import Apps

# the SDK deprecates gRPC invoke_method, yet it is how a gRPC caller reaches InvokeService
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BINARY = bytes(range(256)) * 4


def _echo(resp: httpx.Response) -> dict[str, Any]:
    assert resp.headers["x-echo-app"], resp.text
    return dict(resp.json())


def test_http_invoke_passes_verbs_paths_queries_headers_bodies_statuses(apps: Apps) -> None:
    a = apps.start("app-a")
    apps.start("app-b")
    with httpx.Client(base_url=a.http_url, timeout=30) as http:
        for verb in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            r = http.request(
                verb,
                "/v1.0/invoke/app-b/method/orders/7%2F8/items",
                params={"a": "1", "b": "x y"},
                headers={"X-Custom": "odd value", "Content-Type": "application/octet-stream"},
                content=BINARY,
            )
            assert r.status_code == 200, r.text
            got = _echo(r)
            assert got["app"] == "app-b" and got["method"] == verb
            assert got["path"] == "/orders/7%2F8/items"
            assert got["query"] == "a=1&b=x+y"
            assert got["headers"]["x-custom"] == "odd value"
            assert got["headers"]["content-type"] == "application/octet-stream"
            assert got["headers"]["dapr-caller-app-id"] == "app-a"
            assert got["headers"]["dapr-callee-app-id"] == "app-b"
            assert "dapr-app-id" not in got["headers"]
            assert base64.b64decode(got["body"]) == BINARY
        # status, content type and body of the app's answer come back unchanged
        r = http.post(
            "/v1.0/invoke/app-b/method/teapot?status=418&raw=text/plain;charset=latin-1",
            content="caf\xe9".encode("latin-1"),
        )
        assert r.status_code == 418 and r.content == "caf\xe9".encode("latin-1")
        assert r.headers["content-type"] == "text/plain;charset=latin-1"
        assert r.headers["x-echo-app"] == "app-b"
        r = http.head("/v1.0/invoke/app-b/method/anything?status=204")
        assert r.status_code == 204 and r.headers["x-echo-app"] == "app-b"
        # the dapr-app-id header form, Basic auth form and <app-id>.<namespace>
        got = _echo(http.put("/some/path?q=1", headers={"dapr-app-id": "app-b"}, content=b"h"))
        assert (got["app"], got["method"], got["path"], got["query"]) == (
            "app-b", "PUT", "/some/path", "q=1"
        )  # fmt: skip
        assert "dapr-app-id" not in got["headers"]
        # ...only for paths no Dapr API route serves (daprd's fallback route)
        r = http.get("/v1.0/metadata", headers={"dapr-app-id": "app-b"})
        assert r.json()["id"] == "app-a"
        got = _echo(http.get("/basic", auth=("dapr-app-id", "app-b")))
        assert got["app"] == "app-b" and got["path"] == "/basic"
        got = _echo(http.get("/v1.0/invoke/app-b.default/method/ns"))
        assert got["app"] == "app-b" and got["path"] == "/ns"
        # trace context: same trace id, a new span
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        got = _echo(http.get("/v1.0/invoke/app-b/method/t", headers={"traceparent": parent}))
        trace = got["headers"]["traceparent"].split("-")
        assert trace[1] == "0af7651916cd43dd8448eb211c80319c" and trace[2] != "b7ad6b7169203331"


def test_sdk_clients_invoke_over_http_and_grpc(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    a = apps.start("app-a")
    apps.start("app-b")
    monkeypatch.setenv("DAPR_HTTP_PORT", str(a.address.http_port))
    monkeypatch.setenv("DAPR_GRPC_PORT", str(a.address.grpc_port))
    with DaprClient(a.grpc_address) as client:
        resp = client.invoke_method(
            "app-b", "sdk/http", data=b"\x00\x01raw", http_verb="PATCH",
            content_type="application/x-thing",
        )  # fmt: skip
        got = json.loads(resp.data)
        assert got["method"] == "PATCH" and base64.b64decode(got["body"]) == b"\x00\x01raw"
        assert got["headers"]["content-type"] == "application/x-thing"
    grpc_client = DaprGrpcClient(a.grpc_address)
    try:
        resp = grpc_client.invoke_method(
            "app-b",
            "sdk/grpc",
            data=b"\xffbytes",
            content_type="application/octet-stream",
            metadata=(("x-trace-me", "yes"),),
            http_verb="DELETE",
            http_querystring=(("k", "v w"), ("z", "1")),
        )
        got = json.loads(resp.data)
        assert got["method"] == "DELETE" and got["path"] == "/sdk/grpc"
        assert got["query"] == "k=v+w&z=1" or got["query"] == "k=v%20w&z=1"
        assert got["headers"]["x-trace-me"] == "yes"
        assert got["headers"]["dapr-caller-app-id"] == "app-a"
        assert base64.b64decode(got["body"]) == b"\xffbytes"
        with pytest.raises(grpc.RpcError) as err:
            grpc_client.invoke_method(
                "app-b", "missing", data=b"", http_verb="GET", http_querystring=(("status", "404"),)
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # daprd's CodeFromHTTPStatus
        assert err.value.details() == "Not Found"
        status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        status.details[0].Unpack(info)
        assert info.domain == "dapr.io" and info.metadata["http.code"] == "404"
        assert info.metadata["http.error_message"].startswith('{"app": "app-b"')
        with pytest.raises(grpc.RpcError) as err:
            grpc_client.invoke_method("nobody-home", "x", data=b"")
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert "nobody-home" in str(err.value.details())
    finally:
        grpc_client.close()


def test_unknown_and_invalid_app_ids_answer_err_direct_invoke(apps: Apps) -> None:
    a = apps.start("app-a")
    r = httpx.post(f"{a.http_url}/v1.0/invoke/ghost/method/x", content=b"{}")
    assert r.status_code == 500
    body = r.json()
    assert body["errorCode"] == "ERR_DIRECT_INVOKE"
    assert body["message"].startswith("failed to invoke, id: ghost, err: couldn't find service")
    r = httpx.get(f"{a.http_url}/v1.0/invoke/a.b.c/method/x")
    assert r.status_code == 500 and r.json()["message"].endswith("invalid app id a.b.c")
    r = httpx.get(f"{a.http_url}/v1.0/invoke/app-a.other-ns/method/x")
    assert r.status_code == 500 and "namespace 'other-ns'" in r.json()["message"]


def test_target_with_health_checks_and_no_app_refuses_calls_from_other_apps(
    apps: Apps,
) -> None:
    a = apps.start("app-a")
    nobody = free_port()  # no app listens: the target's health probe never succeeds
    args = [*apps.sidecar_args("sick", nobody, None), "--enable-app-health-check"]
    sick = apps.spawn(args, "sick-sidecar.log")
    apps.wait_registered("sick", sick)
    for url in (f"{a.http_url}/v1.0/invoke/sick/method/x", None):
        if url is None:  # the target's own sidecar answers the same for a local call
            found = resolution.resolve("sick", directory=apps.registry)
            assert found is not None
            url = f"{found.http_url}/v1.0/invoke/sick/method/x"
        r = httpx.post(url, content=b"{}", timeout=30)
        assert r.status_code == 500, r.text
        body = r.json()
        assert body["errorCode"] == "ERR_DIRECT_INVOKE"
        assert body["message"] == "failed to invoke, id: sick, err: app is not in a healthy state"


def test_three_apps_call_each_other(apps: Apps) -> None:
    started = {name: apps.start(name) for name in ("one", "two", "three")}
    for caller, app in started.items():
        for callee in started:
            got = _echo(httpx.get(f"{app.http_url}/v1.0/invoke/{callee}/method/who"))
            assert got["app"] == callee
            assert got["headers"]["dapr-caller-app-id"] == caller
            assert got["headers"]["dapr-callee-app-id"] == callee


def test_duplicate_app_id_fails_at_start_naming_id_and_pid(apps: Apps) -> None:
    first = apps.start("twin")
    second = apps.spawn(apps.sidecar_args("twin", None, None), "twin-2.log")
    assert second.wait(30) == 1
    out = apps.log("twin-2.log")
    assert "'twin'" in out and f"pid {first.sidecar.pid}" in out.replace("\n", "")


def test_killed_target_is_unknown_and_its_entry_cleaned(apps: Apps) -> None:
    a = apps.start("caller")
    b = apps.start("victim")
    assert _echo(httpx.get(f"{a.http_url}/v1.0/invoke/victim/method/x"))["app"] == "victim"
    b.sidecar.kill()
    b.sidecar.wait(10)
    r = httpx.get(f"{a.http_url}/v1.0/invoke/victim/method/x", timeout=30)
    assert r.status_code == 500 and r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "victim" in r.json()["message"]
    assert not (apps.registry / "victim.json").exists()


RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: invoke-policies}
spec:
  policies:
    retries:
      quick: {policy: constant, duration: 10ms, maxRetries: 3}
    timeouts:
      short: 300ms
    circuitBreakers:
      twoStrikes: {maxRequests: 1, timeout: 60s, trip: consecutiveFailures >= 2}
  targets:
    apps:
      flaky: {retry: quick}
      slow: {timeout: short}
      fragile: {circuitBreaker: twoStrikes}
"""


def test_resiliency_target_policies_apply_to_the_app_id(apps: Apps) -> None:
    resources = apps.root / "resources"
    resources.mkdir()
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    a = apps.start("caller", resources)
    for name in ("flaky", "slow", "fragile"):
        apps.start(name)
    with httpx.Client(base_url=a.http_url, timeout=30) as http:
        # retry: two 503s then 200, all inside one call
        r = http.get("/v1.0/invoke/flaky/method/x?fail=2&key=k1")
        assert r.status_code == 200, r.text
        r = http.get("/v1.0/invoke/flaky/method/x?fail=9&key=k2")
        assert r.status_code == 503  # after the last retry the app's own answer comes back
        # timeout per attempt
        r = http.get("/v1.0/invoke/slow/method/x?sleep=2")
        assert r.status_code == 500 and "context deadline exceeded" in r.json()["message"]
        # circuit breaker: opens after two failures, then refuses without calling the app
        for _ in range(2):
            assert http.get("/v1.0/invoke/fragile/method/x?status=500").status_code == 500
        r = http.get("/v1.0/invoke/fragile/method/x")
        assert r.status_code == 500 and r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
        assert "circuit breaker is open" in r.json()["message"]


def test_funchost_apps_lists_the_running_apps(apps: Apps) -> None:
    import subprocess

    from .conftest import FUNCHOST

    a = apps.start("listed-app")
    done = subprocess.run(
        [*FUNCHOST, "apps", "--json"], env=apps.env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)
    assert entry["app_id"] == "listed-app" and entry["pid"] == a.sidecar.pid
    assert entry["http_port"] == a.address.http_port and entry["app_port"] == a.app_port
