"""End to end: the all_kinds sample on the real embedded sidecar, driven by the Dapr SDK."""

from __future__ import annotations

import sys

import pytest

from tests.host.conftest import SAMPLES

pytestmark = [pytest.mark.e2e, pytest.mark.funchost(path=str(SAMPLES / "all_kinds"))]


async def test_publish_invoke_actor_workflow(funchost_runtime) -> None:
    rt = funchost_runtime
    seen = sys.modules["orders"].SEEN
    seen.clear()
    client = await rt.client()
    await client.publish_event(
        "pubsub", "orders", '{"id": "e2e-1", "amount": 3}', data_content_type="application/json"
    )
    await client.publish_event(
        "pubsub", "orders", '{"id": "e2e-2"}', data_content_type="application/json"
    )
    await rt.idle()
    assert [s[:2] for s in seen] == [("order", "e2e-1")]
    dead = await rt.dead_letters("orders-dlq")
    assert len(dead) == 1

    reply = await rt.invoke("tasks/7", http_method="GET")
    assert reply.status_code == 200 and reply.json() == {"id": 7}

    durable = sys.modules["durable"]
    proxy = rt.actor("CounterActor", "c1", durable.CounterInterface)
    assert await proxy.Increment(2) == 2
    assert await proxy.Increment(3) == 5

    from dapr.ext.workflow.aio import DaprWorkflowClient

    host, _, port = rt.grpc_address.rpartition(":")
    wf = DaprWorkflowClient(host=host, port=port)
    instance = await wf.schedule_new_workflow("double_it", input=21)
    state = await wf.wait_for_workflow_completion(instance, timeout_in_seconds=30)
    assert state is not None and state.serialized_output == "42"
