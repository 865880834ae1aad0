"""The distributed lock API (alpha) through the SDK's `try_lock`/`unlock` and over HTTP, on
`lock.in-memory` and on `lock.redis` (the Python SDK's metadata example lists one)."""

from __future__ import annotations

import socket
import uuid

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc._response import UnlockResponseStatus

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:The Distributed Lock API is an Alpha:UserWarning"),
]

MEMORY_LOCK = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: lockstore}
spec:
  type: lock.in-memory
  version: v1
"""

# dapr/python-sdk examples/metadata/components/lockstore.yaml
REDIS_LOCK = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: lockstore
  namespace: default
spec:
  type: lock.redis
  metadata:
  - name: redisHost
    value: localhost:6379
  - name: redisPassword
    value: ""
"""


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _exercise(h: object, resource: str) -> None:
    http_url = h.http_url  # type: ignore[attr-defined]
    with DaprClient(address=h.grpc_address) as c:  # type: ignore[attr-defined]
        first = c.try_lock("lockstore", resource, "owner-1", 60)
        assert first.success
        assert not c.try_lock("lockstore", resource, "owner-2", 60).success
        assert c.unlock("lockstore", resource, "owner-2").status == (
            UnlockResponseStatus.lock_belongs_to_others
        )
        assert c.unlock("lockstore", resource, "owner-1").status == UnlockResponseStatus.success
        assert c.unlock("lockstore", resource, "owner-1").status == (
            UnlockResponseStatus.lock_does_not_exist
        )
        with pytest.raises(grpc.RpcError) as err:
            c.try_lock("nolocks", resource, "o", 5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    body = {"resourceId": resource, "lockOwner": "h", "expiryInSeconds": 30}
    r = httpx.post(f"{http_url}/v1.0-alpha1/lock/lockstore", json=body)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert httpx.post(f"{http_url}/v1.0-alpha1/lock/lockstore", json=body).json() == {
        "success": False
    }
    r = httpx.post(f"{http_url}/v1.0-alpha1/unlock/lockstore", json={**body, "lockOwner": "x"})
    assert r.json() == {"status": 2}
    r = httpx.post(f"{http_url}/v1.0-alpha1/unlock/lockstore", json=body)
    assert r.json() == {"status": 0}
    r = httpx.post(f"{http_url}/v1.0-alpha1/lock/lockstore", json={**body, "expiryInSeconds": 0})
    assert r.status_code == 400 and r.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
    r = httpx.post(f"{http_url}/v1.0-alpha1/lock/nolocks", json=body)
    assert r.status_code == 400 and r.json()["errorCode"] == "ERR_LOCK_STORE_NOT_FOUND"


def test_in_memory_lock_expires_on_the_sidecar_clock(make_sidecar) -> None:
    h = make_sidecar({"lock.yaml": MEMORY_LOCK}, app=False)
    _exercise(h, "res")
    with DaprClient(address=h.grpc_address) as c:
        assert c.try_lock("lockstore", "lease", "a", 10).success
        h.advance(11)
        assert c.try_lock("lockstore", "lease", "b", 10).success


@pytest.mark.redis
@pytest.mark.skipif(not _redis_up(), reason="no Redis server on 127.0.0.1:6379")
def test_redis_lock_of_the_metadata_example(make_sidecar) -> None:
    """The SDK's metadata example lists a `lock.redis`: the sidecar starts and serves it."""
    import redis

    resource = f"fh-test-{uuid.uuid4().hex[:8]}"
    h = make_sidecar({"lockstore.yaml": REDIS_LOCK}, app=False)
    try:
        _exercise(h, resource)
        with DaprClient(address=h.grpc_address) as c:
            assert c.try_lock("lockstore", resource, "me", 30).success
            raw = redis.Redis(host="127.0.0.1", port=6379)
            assert raw.get(f"lock||testapp||{resource}") == b"me"  # daprd's key layout
            meta = c.get_metadata()
            types = {comp.name: comp.type for comp in meta.registered_components}
            assert types["lockstore"] == "lock.redis"
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379)
        client.delete(f"lock||testapp||{resource}")
        client.close()
