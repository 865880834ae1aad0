"""state.redis and pubsub.redis against a real Redis on 127.0.0.1:6379 (skipped without one)."""

from __future__ import annotations

import json
import socket
import uuid

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from starlette.responses import Response


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = [pytest.mark.redis, pytest.mark.e2e]


@pytest.fixture
def prefix():
    """A unique key prefix on a live Redis; skips (decided when the test runs) without one."""
    redis = pytest.importorskip("redis", reason="pip install 'funchost[redis]'")
    if not _redis_up():
        pytest.skip("no Redis server on 127.0.0.1:6379 (.ci/run starts one)")
    value = f"fh-test-{uuid.uuid4().hex[:8]}"
    yield value
    try:
        client = redis.Redis(host="127.0.0.1", port=6379)
        for key in client.scan_iter(f"*{value}*"):
            client.delete(key)
        client.close()
    except redis.ConnectionError:
        pass  # Redis went away after the test: nothing left to clean


def _resources(prefix: str) -> dict[str, str]:
    return {
        "redis.yaml": f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: statestore}}
spec:
  type: state.redis
  metadata:
    - {{name: redisHost, value: "127.0.0.1:6379"}}
    - {{name: keyPrefix, value: "{prefix}"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: pubsub}}
spec:
  type: pubsub.redis
  metadata:
    - {{name: redisHost, value: "127.0.0.1:6379"}}
    - {{name: consumerID, value: "{prefix}-group"}}
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {{name: r}}
spec:
  policies:
    retries:
      once: {{policy: constant, duration: 1s, maxRetries: 1}}
  targets:
    components:
      pubsub: {{inbound: {{retry: once}}}}
"""
    }


def test_redis_state(make_sidecar, prefix):
    h = make_sidecar(_resources(prefix), app=False)
    with DaprClient(address=h.grpc_address) as c:
        c.save_state("statestore", "k", "v1")
        got = c.get_state("statestore", "k")
        assert got.data == b"v1" and got.etag == "1"
        with pytest.raises(DaprGrpcError) as err:
            c.save_state("statestore", "k", "x", etag="7")
        assert err.value.code() == grpc.StatusCode.ABORTED
        c.save_state("statestore", "k", "v2", etag="1")
        assert c.get_state("statestore", "k").data == b"v2"
        c.delete_state("statestore", "k", etag="2")
        assert c.get_state("statestore", "k").data == b""
    import redis

    raw = redis.Redis(host="127.0.0.1", port=6379)
    assert raw.exists(f"{prefix}||k") == 0
    raw.close()


def test_redis_pubsub_delivery_and_dead_letter(make_sidecar, recording_app, prefix):
    topic, dlq = f"{prefix}-orders", f"{prefix}-dlq"
    recording_app.subscriptions = [
        {"pubsubname": "pubsub", "topic": topic, "route": "/orders", "deadLetterTopic": dlq},
        {"pubsubname": "pubsub", "topic": dlq, "route": "/dlq"},
    ]
    recording_app.handlers["/orders"] = lambda rec: (
        Response(status_code=500) if rec.json()["data"]["n"] == 2 else Response()
    )
    h = make_sidecar(_resources(prefix))
    with DaprClient(address=h.grpc_address) as c:
        for n in (1, 2):
            c.publish_event(
                "pubsub", topic, json.dumps({"n": n}), data_content_type="application/json"
            )
    recording_app.wait_for("/orders", 2)
    h.advance(5)
    (dead,) = recording_app.wait_for("/dlq")
    assert dead.json()["data"] == {"n": 2}
    assert len([r for r in recording_app.at("/orders") if r.json()["data"]["n"] == 2]) == 2
    import redis

    raw = redis.Redis(host="127.0.0.1", port=6379)
    pending = raw.xpending(topic, f"{prefix}-group")
    assert pending["pending"] == 0
    raw.close()
