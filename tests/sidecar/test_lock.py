"""The distributed lock API: daprd's semantics as a table, on the embedded store and Redis.

Every row runs through the Dapr SDK (gRPC `TryLockAlpha1` / `UnlockAlpha1`) and through HTTP
(`/v1.0-alpha1/lock|unlock/<store>`); the SDK has no HTTP lock client, so HTTP uses httpx.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from dapr.clients import DaprClient

from ._config_backends import redis_up

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:The Distributed Lock API")]

SUCCESS, DOES_NOT_EXIST, BELONGS_TO_OTHERS, INTERNAL_ERROR = 0, 1, 2, 3


@dataclass
class LockBackend:
    kind: str
    store: str
    resources: dict[str, str]
    cleanup: list[Any] = field(default_factory=list)


@pytest.fixture(params=["embedded", "redis"])
def lock_backend(request: pytest.FixtureRequest) -> Iterator[LockBackend]:
    if request.param == "embedded":
        yield LockBackend("embedded", "lockstore", {})
        return
    redis = pytest.importorskip("redis")
    if not redis_up():
        pytest.skip("no Redis server on 127.0.0.1:6379")
    prefix = f"fhlock{uuid.uuid4().hex[:8]}"
    yaml = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: redislock}}
spec:
  type: lock.redis
  metadata:
    - {{name: redisHost, value: "127.0.0.1:6379"}}
    - {{name: keyPrefix, value: "{prefix}"}}
"""
    yield LockBackend("redis", "redislock", {"lock.yaml": yaml})
    client = redis.Redis(host="127.0.0.1", port=6379)
    for key in client.scan_iter(f"lock||{prefix}||*"):
        client.delete(key)
    client.close()


class GrpcLocks:
    def __init__(self, client: DaprClient, store: str) -> None:
        self.client, self.store = client, store

    def lock(self, resource: str, owner: str, expiry: int = 30) -> bool:
        return bool(self.client.try_lock(self.store, resource, owner, expiry).success)

    def unlock(self, resource: str, owner: str) -> int:
        return int(self.client.unlock(self.store, resource, owner).status.value)


class HttpLocks:
    def __init__(self, base: str, store: str) -> None:
        self.base, self.store = base, store

    def lock(self, resource: str, owner: str, expiry: int = 30) -> bool:
        body = {"resourceId": resource, "lockOwner": owner, "expiryInSeconds": expiry}
        resp = httpx.post(f"{self.base}/v1.0-alpha1/lock/{self.store}", json=body)
        assert resp.status_code == 200, resp.text
        return bool(resp.json()["success"])

    def unlock(self, resource: str, owner: str) -> int:
        body = {"resourceId": resource, "lockOwner": owner}
        resp = httpx.post(f"{self.base}/v1.0-alpha1/unlock/{self.store}", json=body)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["status"])


# (operation, owner, expected): one resource, steps in order
SEMANTICS = [
    ("unlock", "alice", DOES_NOT_EXIST),
    ("lock", "alice", True),
    ("lock", "bob", False),
    ("lock", "alice", False),  # not re-entrant: SET NX fails for the owner too
    ("unlock", "bob", BELONGS_TO_OTHERS),
    ("unlock", "alice", SUCCESS),
    ("unlock", "alice", DOES_NOT_EXIST),
    ("lock", "bob", True),
    ("unlock", "bob", SUCCESS),
]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_lock_semantics_table(make_sidecar, lock_backend: LockBackend, protocol: str) -> None:
    h = make_sidecar(lock_backend.resources, app=False)
    resource = f"order-{uuid.uuid4().hex[:6]}"
    with DaprClient(address=h.grpc_address) as client:
        locks: Any = (
            GrpcLocks(client, lock_backend.store)
            if protocol == "grpc"
            else HttpLocks(h.http_url, lock_backend.store)
        )
        for step, (op, owner, expected) in enumerate(SEMANTICS):
            got = getattr(locks, op)(resource, owner)
            assert got == expected, f"step {step}: {op} by {owner}"


def test_expiry_frees_the_lock(make_sidecar) -> None:
    h = make_sidecar(app=False)
    locks = HttpLocks(h.http_url, "lockstore")
    assert locks.lock("r", "alice", expiry=5)
    h.advance(4)
    assert not locks.lock("r", "bob", expiry=5)
    h.advance(1.5)
    assert locks.unlock("r", "alice") == DOES_NOT_EXIST
    assert locks.lock("r", "bob", expiry=5)


def test_redis_lock_key_layout_and_expiry(make_sidecar, lock_backend: LockBackend) -> None:
    if lock_backend.kind != "redis":
        pytest.skip("Redis layout only")
    import redis

    h = make_sidecar(lock_backend.resources, app=False)
    assert HttpLocks(h.http_url, "redislock").lock("res", "alice", expiry=7)
    prefix = lock_backend.resources["lock.yaml"].split('keyPrefix, value: "')[1].split('"')[0]
    raw = redis.Redis(host="127.0.0.1", port=6379)
    key = f"lock||{prefix}||res"
    assert raw.get(key) == b"alice"
    assert 0 < raw.pttl(key) <= 7000
    raw.close()


# (body, http status, errorCode, message, gRPC code)
VALIDATION = [
    (
        {"resourceId": "r", "lockOwner": "o", "expiryInSeconds": 0},
        400,
        "ERR_MALFORMED_REQUEST",
        "ExpiryInSeconds is not positive in lock store lockstore",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        {"resourceId": "", "lockOwner": "o", "expiryInSeconds": 5},
        400,
        "ERR_MALFORMED_REQUEST",
        "ResourceId is empty in lock store lockstore",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        {"resourceId": "r", "lockOwner": "", "expiryInSeconds": 5},
        400,
        "ERR_MALFORMED_REQUEST",
        "LockOwner is empty in lock store lockstore",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        {"resourceId": "a||b", "lockOwner": "o", "expiryInSeconds": 5},
        500,
        "ERR_TRY_LOCK",
        "failed to try acquiring lock: input key/keyPrefix 'a||b' can't contain '||'",
        grpc.StatusCode.INTERNAL,
    ),
]


@pytest.mark.parametrize(("body", "status", "code", "message", "grpc_code"), VALIDATION)
def test_validation_errors_as_daprd(make_sidecar, body, status, code, message, grpc_code) -> None:
    h = make_sidecar(app=False)
    resp = httpx.post(f"{h.http_url}/v1.0-alpha1/lock/lockstore", json=body)
    assert resp.status_code == status
    assert resp.json() == {"errorCode": code, "message": message}
    with grpc.insecure_channel(h.grpc_address) as channel:
        from dapr.proto import api_v1
        from dapr.proto.runtime.v1 import dapr_pb2_grpc

        stub = dapr_pb2_grpc.DaprStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.TryLockAlpha1(
                api_v1.TryLockRequest(
                    store_name="lockstore",
                    resource_id=body["resourceId"],
                    lock_owner=body["lockOwner"],
                    expiry_in_seconds=body["expiryInSeconds"],
                )
            )
        assert err.value.code() == grpc_code and err.value.details() == message


def test_unknown_store(make_sidecar) -> None:
    h = make_sidecar(app=False)
    body = {"resourceId": "r", "lockOwner": "o"}
    resp = httpx.post(f"{h.http_url}/v1.0-alpha1/unlock/nope", json=body)
    assert resp.status_code == 400
    assert resp.json() == {
        "errorCode": "ERR_LOCK_STORE_NOT_FOUND",
        "message": "lock store nope not found",
    }


def test_lock_protected_counter(make_sidecar, lock_backend: LockBackend) -> None:
    """Many threads increment one state value under the lock: no update is lost."""
    h = make_sidecar(lock_backend.resources, app=False)
    workers, rounds = 6, 10
    resource = f"counter-{uuid.uuid4().hex[:6]}"
    key = f"fh-counter-{uuid.uuid4().hex[:6]}"

    def worker(n: int) -> None:
        owner = f"worker-{n}"
        with DaprClient(address=h.grpc_address) as c, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            done = 0
            while done < rounds:
                if not c.try_lock(lock_backend.store, resource, owner, 30).success:
                    threading.Event().wait(0.002)
                    continue
                value = int(c.get_state("statestore", key).data or b"0")
                c.save_state("statestore", key, str(value + 1))
                assert c.unlock(lock_backend.store, resource, owner).status.value == SUCCESS
                done += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with DaprClient(address=h.grpc_address) as c:
        assert int(c.get_state("statestore", key).data) == workers * rounds
