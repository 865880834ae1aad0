"""State and secrets through the SDK's sync and async clients and the HTTP API."""

from __future__ import annotations

import asyncio
import json

import grpc
import httpx
import pytest
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._state import Concurrency, StateOptions

pytestmark = pytest.mark.e2e


def test_state_etags_first_write_and_bulk(make_sidecar):
    h = make_sidecar(app=False)
    with DaprClient(address=h.grpc_address) as c:
        c.save_state("statestore", "k", "v1")
        got = c.get_state("statestore", "k")
        assert got.data == b"v1" and got.etag == "1"
        c.save_state("statestore", "k", "v2", etag="1")
        assert c.get_state("statestore", "k").etag == "2"
        with pytest.raises(DaprGrpcError) as err:
            c.save_state("statestore", "k", "stale", etag="1")
        assert err.value.code() == grpc.StatusCode.ABORTED
        with pytest.raises(DaprGrpcError) as err:
            c.save_state("statestore", "k", "x", etag="not-a-number")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        first = StateOptions(concurrency=Concurrency.first_write)
        with pytest.raises(DaprGrpcError):
            c.save_state("statestore", "k", "again", options=first)
        c.save_state("statestore", "fresh", "new", options=first)
        assert c.get_state("statestore", "k").data == b"v2"
        missing = c.get_state("statestore", "nope")
        assert missing.data == b"" and missing.etag == ""
        bulk = {i.key: i for i in c.get_bulk_state("statestore", ["k", "fresh", "nope"]).items}
        assert bulk["k"].data == b"v2" and bulk["fresh"].data == b"new" and bulk["nope"].data == b""
        with pytest.raises(DaprGrpcError):
            c.delete_state("statestore", "k", etag="1")
        c.delete_state("statestore", "k", etag="2")
        assert c.get_state("statestore", "k").data == b""
        with pytest.raises(DaprGrpcError) as err:
            c.get_state("nostore", "k")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_transactions_are_all_or_nothing(make_sidecar):
    from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType

    h = make_sidecar(app=False)
    with DaprClient(address=h.grpc_address) as c:
        c.save_state("statestore", "a", "1")
        ops = [
            TransactionalStateOperation(key="b", data="2"),
            TransactionalStateOperation(key="a", data="x", etag="99"),
        ]
        with pytest.raises(DaprGrpcError) as err:
            c.execute_state_transaction("statestore", ops)
        assert err.value.code() == grpc.StatusCode.ABORTED
        assert c.get_state("statestore", "b").data == b""
        ops = [
            TransactionalStateOperation(key="b", data="2"),
            TransactionalStateOperation(
                key="a", operation_type=TransactionOperationType.delete, etag="1"
            ),
        ]
        c.execute_state_transaction("statestore", ops)
        assert c.get_state("statestore", "b").data == b"2"
        assert c.get_state("statestore", "a").data == b""


def test_ttl_on_virtual_clock_and_async_client(make_sidecar):
    h = make_sidecar(app=False)

    async def go() -> None:
        async with AsyncDaprClient(address=h.grpc_address) as c:
            await c.save_state("statestore", "t", "short", state_metadata={"ttlInSeconds": "10"})
            got = await c.get_state("statestore", "t")
            assert got.data == b"short"

    asyncio.run(go())
    h.advance(11)
    with DaprClient(address=h.grpc_address) as c:
        assert c.get_state("statestore", "t").data == b""


def test_state_http_api(make_sidecar):
    h = make_sidecar(app=False)
    url = f"{h.http_url}/v1.0/state/statestore"
    assert httpx.post(url, json=[{"key": "h", "value": {"a": 1}}]).status_code == 204
    r = httpx.get(f"{url}/h")
    assert r.json() == {"a": 1} and r.headers["etag"] == "1"
    r = httpx.post(url, json=[{"key": "h", "value": 2, "etag": "7"}])
    assert r.status_code == 409 and r.json()["errorCode"] == "ERR_STATE_SAVE"
    assert httpx.get(f"{url}/none").status_code == 204
    r = httpx.post(f"{url}/bulk", json={"keys": ["h", "none"]})
    assert r.json() == [{"key": "h", "data": {"a": 1}, "etag": "1"}, {"key": "none"}]
    tx = {"operations": [{"operation": "upsert", "request": {"key": "t2", "value": "v"}}]}
    assert httpx.post(f"{url}/transaction", json=tx).status_code == 204
    assert httpx.delete(f"{url}/h", headers={"If-Match": "3"}).status_code == 409
    assert httpx.delete(f"{url}/h", headers={"If-Match": "1"}).status_code == 204


def test_state_survives_restart(make_sidecar, tmp_path):
    h = make_sidecar(app=False)
    with DaprClient(address=h.grpc_address) as c:
        c.save_state("statestore", "durable", "yes")
    h.thread.stop()
    h2 = make_sidecar(app=False)
    with DaprClient(address=h2.grpc_address) as c:
        assert c.get_state("statestore", "durable").data == b"yes"


def test_secrets_file_store_with_allow_list(make_sidecar, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"db": {"password": "pw"}, "api-key": "k", "hidden": "h"}))
    monkeypatch.setenv("FH_TEST_SECRET", "from-env")
    resources = {
        "secrets.yaml": f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: files}}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - {{name: secretsFile, value: "{secrets}"}}
    - {{name: deniedSecrets, value: "hidden"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: env}}
spec:
  type: secretstores.local.env
  metadata: []
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: uses-secret}}
spec:
  type: bindings.http
  metadata:
    - name: url
      secretKeyRef: {{name: FH_TEST_SECRET, key: FH_TEST_SECRET}}
auth:
  secretStore: env
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {{name: scopes}}
spec:
  secrets:
    scopes:
      - {{storeName: env, defaultAccess: deny, allowedSecrets: [FH_TEST_SECRET]}}
"""
    }
    h = make_sidecar(resources, app=False)
    with DaprClient(address=h.grpc_address) as c:
        assert c.get_secret("files", "db:password").secret == {"db:password": "pw"}
        assert c.get_secret("env", "FH_TEST_SECRET").secret == {"FH_TEST_SECRET": "from-env"}
        with pytest.raises(grpc.RpcError) as err:
            c.get_secret("env", "HOME")  # not in the Configuration's allowedSecrets
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as err:
            c.get_secret("files", "hidden")
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        bulk = c.get_bulk_secret("files").secrets
        assert "hidden" not in bulk and bulk["api-key"] == {"api-key": "k"}
    assert h.sub("components").get("uses-secret").meta("url") == "from-env"
    r = httpx.get(f"{h.http_url}/v1.0/secrets/files/hidden")
    assert r.status_code == 403 and r.json()["errorCode"] == "ERR_PERMISSION_DENIED"
    assert httpx.get(f"{h.http_url}/v1.0/secrets/files/api-key").json() == {"api-key": "k"}
