"""The Configuration API end to end through the Dapr SDK (gRPC) and HTTP, on every store.

Each test runs on the embedded default (`configuration.sqlite`), on `configuration.redis`
(skipped without Redis on 127.0.0.1:6379) and on `configuration.postgresql` (a throwaway
cluster, skipped without PostgreSQL binaries).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.proto import api_v1
from dapr.proto.runtime.v1 import dapr_pb2_grpc

from ._config_backends import ConfigBackend, items_of, make_backend

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["embedded", "redis", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[ConfigBackend]:
    b = make_backend(request.param, request)
    yield b
    for drop in b.cleanup:
        drop()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_get_over_grpc_and_http(make_sidecar, backend: ConfigBackend) -> None:
    h = make_sidecar(backend.resources, app=False)
    backend.http_url = h.http_url
    a, b, missing = backend.key("a"), backend.key("b"), backend.key("missing")
    backend.set(a, "101", "1")
    backend.set(b, "102", "7")
    with DaprClient(address=h.grpc_address) as c:
        got = c.get_configuration(backend.store, [a, b, missing])
        assert items_of(got) == {a: ("101", "1"), b: ("102", "7")}
        if backend.kind == "postgresql":
            assert got.items[a].metadata == {"source": "test"}
    for prefix in ("/v1.0", "/v1.0-alpha1"):
        resp = httpx.get(
            f"{h.http_url}{prefix}/configuration/{backend.store}", params={"key": [a, b]}
        )
        assert resp.status_code == 200
        body = resp.json()
        assert body[a]["value"] == "101" and body[a]["version"] == "1"
        assert body[b] == {"value": "102", "version": "7", **_meta(backend)}
        none = httpx.get(
            f"{h.http_url}{prefix}/configuration/{backend.store}", params={"key": missing}
        )
        assert none.status_code == 204 and none.content == b""


def _meta(backend: ConfigBackend) -> dict[str, Any]:
    return {"metadata": {"source": "test"}} if backend.kind == "postgresql" else {}


def test_two_grpc_subscribers_get_each_change_once(make_sidecar, backend: ConfigBackend) -> None:
    h = make_sidecar(backend.resources, app=False)
    backend.http_url = h.http_url
    key, other = backend.key("flag"), backend.key("other")
    seen: dict[str, list[tuple[str, str]]] = {"one": [], "two": []}
    lock = threading.Lock()

    def handler(name: str) -> Callable[[str, Any], None]:
        def on_change(sub_id: str, resp: Any) -> None:
            with lock:
                seen[name].extend((k, v.value) for k, v in resp.items.items())

        return on_change

    with DaprClient(address=h.grpc_address) as c1, DaprClient(address=h.grpc_address) as c2:
        id1 = c1.subscribe_configuration(backend.store, [key], handler("one"))
        id2 = c2.subscribe_configuration(backend.store, [key], handler("two"))
        assert id1 and id2 and id1 != id2
        backend.set(other, "not watched", "1")
        for n in range(1, 4):
            # one change at a time: Redis re-reads a key on its notification (as daprd does),
            # so changes written back to back may all read the last value
            backend.set(key, f"v{n}", str(n))
            wait_until(lambda n=n: len(seen["one"]) >= n and len(seen["two"]) >= n, f"change {n}")
        want = [(key, "v1"), (key, "v2"), (key, "v3")]
        assert c1.unsubscribe_configuration(backend.store, id1) is True
        backend.set(key, "v4", "4")
        wait_until(lambda: len(seen["two"]) >= 4, "the 4th change on the second subscriber")
        assert seen["two"] == [*want, (key, "v4")]
        assert seen["one"] == want
        assert c2.unsubscribe_configuration(backend.store, id2) is True
        assert c2.unsubscribe_configuration(backend.store, id2) is False


def test_http_subscription_calls_the_app_back(
    make_sidecar, recording_app, backend: ConfigBackend
) -> None:
    h = make_sidecar(backend.resources)
    backend.http_url = h.http_url
    key = backend.key("limit")
    base = f"{h.http_url}/v1.0/configuration/{backend.store}"
    sub = httpx.get(f"{base}/subscribe", params={"key": key})
    assert sub.status_code == 200
    sub_id = sub.json()["id"]
    backend.set(key, "42", "3")
    (call,) = recording_app.wait_for(f"/configuration/{backend.store}/{key}")
    assert call.method == "POST" and call.headers["content-type"] == "application/json"
    assert call.json() == {
        "id": sub_id,
        "items": {key: {"value": "42", "version": "3", **_meta(backend)}},
    }
    done = httpx.get(f"{base}/{sub_id}/unsubscribe")
    assert done.status_code == 200 and done.json() == {"ok": True}
    again = httpx.get(f"{base}/{sub_id}/unsubscribe")
    assert again.status_code == 500 and again.json()["ok"] is False


def test_stable_grpc_stream_first_message_carries_only_the_id(make_sidecar) -> None:
    h = make_sidecar(app=False)
    with grpc.insecure_channel(h.grpc_address) as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        stream = stub.SubscribeConfiguration(
            api_v1.SubscribeConfigurationRequest(store_name="configstore", keys=["k"])
        )
        first = next(stream)
        assert first.id and len(first.items) == 0
        httpx.put(f"{h.http_url}/funchost/v1/configuration/configstore", json={"k": "on"})
        second = next(stream)
        assert second.id == first.id and second.items["k"].value == "on"
        assert second.items["k"].version == "1"
        done = stub.UnsubscribeConfiguration(
            api_v1.UnsubscribeConfigurationRequest(store_name="configstore", id=first.id)
        )
        assert done.ok is True
        assert list(stream) == []  # unsubscribe ends the stream
        unknown = stub.UnsubscribeConfigurationAlpha1(
            api_v1.UnsubscribeConfigurationRequest(store_name="configstore", id="nope")
        )
        assert unknown.ok is False
        assert unknown.message == (
            "failed to unsubscribe to configuration request nope: subscription does not exist"
        )


def test_errors_as_daprd(make_sidecar) -> None:
    h = make_sidecar(app=False)
    with DaprClient(address=h.grpc_address) as c:
        with pytest.raises(grpc.RpcError) as err:
            c.get_configuration("nope", ["a"])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == "configuration store nope not found"
    resp = httpx.get(f"{h.http_url}/v1.0/configuration/nope")
    assert resp.status_code == 400
    assert resp.json() == {
        "errorCode": "ERR_CONFIGURATION_STORE_NOT_FOUND",
        "message": "configuration store nope not found",
    }
    no_app = httpx.get(f"{h.http_url}/v1.0/configuration/configstore/subscribe")
    assert no_app.status_code == 500 and no_app.json()["errorCode"] == "ERR_APP_CHANNEL_NIL"


def test_postgres_subscribe_needs_a_channel(make_sidecar, postgres_dsn) -> None:
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS cfg_nochannel (KEY VARCHAR NOT NULL, "
            "VALUE VARCHAR NOT NULL, VERSION VARCHAR NOT NULL, METADATA JSON)"
        )
    yaml = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: pgconfig}}
spec:
  type: configuration.postgresql
  metadata:
    - {{name: connectionString, value: "{postgres_dsn}"}}
    - {{name: table, value: cfg_nochannel}}
"""
    h = make_sidecar({"config.yaml": yaml}, app=False)
    with grpc.insecure_channel(h.grpc_address) as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        stream = stub.SubscribeConfiguration(
            api_v1.SubscribeConfigurationRequest(store_name="pgconfig", keys=["a"])
        )
        with pytest.raises(grpc.RpcError) as err:
            next(stream)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "notifyChannel must be set in component metadata or request metadata" in str(
        err.value.details()
    )


def test_http_callback_is_retried_per_resiliency_then_dropped(make_sidecar, recording_app) -> None:
    from starlette.responses import Response

    answers = iter([500, 500, 200])
    recording_app.handlers["/configuration/configstore/k"] = lambda rec: Response(
        status_code=next(answers, 500)
    )
    resiliency = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    retries:
      twice: {policy: constant, duration: 5s, maxRetries: 2}
  targets:
    components:
      configstore: {inbound: {retry: twice}}
"""
    h = make_sidecar({"resiliency.yaml": resiliency})
    base = f"{h.http_url}/v1.0/configuration/configstore"
    assert httpx.get(f"{base}/subscribe", params={"key": "k"}).status_code == 200
    httpx.put(f"{h.http_url}/funchost/v1/configuration/configstore", json={"k": "v"})
    recording_app.wait_for("/configuration/configstore/k", 1)
    h.idle()
    assert len(recording_app.at("/configuration/configstore/k")) == 1  # waits on the clock
    h.advance(5)
    recording_app.wait_for("/configuration/configstore/k", 2)
    h.advance(5)
    calls = recording_app.wait_for("/configuration/configstore/k", 3)
    assert len({c.body for c in calls}) == 1  # the same event each time
    answers = iter([500, 500, 500, 500])
    httpx.put(f"{h.http_url}/funchost/v1/configuration/configstore", json={"k": "w"})
    recording_app.wait_for("/configuration/configstore/k", 4)
    h.advance(5)
    h.advance(5)
    h.advance(5)
    h.idle()
    assert len(recording_app.at("/configuration/configstore/k")) == 6  # 1 + 2 retries, dropped
