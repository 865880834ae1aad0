"""The unary actor RPCs, driven with the SDK's DaprActorGrpcClient."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from dapr.actor import ActorId, ActorProxy
from dapr.clients.grpc.dapr_actor_grpc_client import DaprActorGrpcClient
from dapr.serializers import DefaultJSONSerializer

pytestmark = pytest.mark.e2e


async def test_grpc_invoke_state_and_reminders(make_env) -> None:
    from _actors_app import CounterInterface

    h = make_env()
    client = DaprActorGrpcClient(address=h.sidecar.grpc_address)
    try:
        proxy = ActorProxy(
            client, "CounterActor", ActorId("g1"), CounterInterface, DefaultJSONSerializer()
        )
        assert await proxy.Increment(4) == 4
        assert json.loads(await client.get_state("CounterActor", "g1", "count")) == 4
        assert await client.get_state("CounterActor", "g1", "missing") == b""
        ops = [{"operation": "upsert", "request": {"key": "name", "value": "grpc"}}]
        await client.save_state_transactionally("CounterActor", "g1", json.dumps(ops).encode())
        assert json.loads(await client.get_state("CounterActor", "g1", "name")) == "grpc"

        body = {
            "dueTime": "0h0m5s0ms0μs",
            "period": None,
            "data": base64.b64encode(b"via grpc").decode(),
        }
        await client.register_reminder("CounterActor", "g1", "rg", json.dumps(body).encode())
        h.advance(5)
        assert h.rec.of("reminder") == [("reminder", "g1", "rg", "via grpc")]

        # App errors come back as the response data (daprd does not raise for actor errors).
        data = await client.invoke_method("CounterActor", "g1", "Fail", b"")
        assert "boom from the actor" in json.loads(data)["message"]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.invoke_method("Nope", "g1", "Get", b"")
        assert "actor instance is missing" in (info.value.details() or "")
    finally:
        await client.close()
