"""The SDK's gRPC actor client, with timers registered over HTTP (see `GrpcActorClient`)."""

from __future__ import annotations

import asyncio
from typing import Any

from dapr.clients.grpc.dapr_actor_grpc_client import DaprActorGrpcClient


class GrpcActorClient(DaprActorGrpcClient):
    """`DaprActorGrpcClient` (state, reminders on one persistent channel) + HTTP timers.

    daprd stores the bytes of a gRPC `RegisterActorTimer` as a base64 JSON string and sends that
    string back to an HTTP app callback (`DaprActor`), so the timer callback would get base64
    instead of its data. Timers are registered through the HTTP actor API instead, which keeps
    the JSON value as is; they are rare, so the per-request connection does not matter.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._http: Any = None

    async def register_timer(self, actor_type: str, actor_id: str, name: str, data: bytes) -> None:
        await (await self._http_client()).register_timer(actor_type, actor_id, name, data)

    async def unregister_timer(self, actor_type: str, actor_id: str, name: str) -> None:
        await (await self._http_client()).unregister_timer(actor_type, actor_id, name)

    async def _http_client(self) -> Any:
        if self._http is None:
            from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient

            # its constructor probes the sidecar with a blocking call: keep the loop running
            self._http = await asyncio.to_thread(DaprActorHttpClient, self._message_serializer)
        return self._http
