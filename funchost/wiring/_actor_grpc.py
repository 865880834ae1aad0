"""The SDK's gRPC actor client, with timers and state saves over HTTP (see `GrpcActorClient`)."""

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

    With ``state_http`` (a `StateHttp`), state transactions, one per state-changing call, go
    as their JSON body to the HTTP actor state API on kept-alive connections: the sidecar stores
    the same bytes as through `ExecuteActorStateTransaction` (the JSON values re-encoded
    compactly, as the default serializer does), for a fraction of the CPU.
    """

    def __init__(self, state_http: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._http: Any = None
        self._state_http = state_http

    async def save_state_transactionally(self, actor_type: str, actor_id: str, data: bytes) -> None:
        if self._state_http is None:
            await super().save_state_transactionally(actor_type, actor_id, data)
        else:
            await self._state_http.save_state_transactionally(actor_type, actor_id, data)

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
