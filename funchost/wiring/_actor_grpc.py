"""The SDK's gRPC actor client, with timers and state over HTTP (see `GrpcActorClient`)."""

from __future__ import annotations

import asyncio
from typing import Any

from dapr.clients.grpc.dapr_actor_grpc_client import DaprActorGrpcClient
from dapr.proto import api_service_v1


class LazyChannel:
    """The actor client's `grpc.aio` channel, opened at its first use.

    A `grpc.aio` object made on a loop makes that loop watch the process's one gRPC completion
    queue: in `funchost run` every gRPC completion of the embedded sidecar (a state save, a
    publish) would then wake the app's loop too and hand the GIL across threads for nothing
    (about a quarter of the sidecar's CPU per call, measured). With state over HTTP, only
    reminders (and custom serializers) need the channel.
    """

    def __init__(self) -> None:
        self._channel: Any = None

    def get(self) -> Any:
        if self._channel is None:
            from dapr.clients.grpc._channel import create_aio_channel

            # like the HTTP client: DAPR_GRPC_ENDPOINT / DAPR_GRPC_PORT as exported by the host
            self._channel = create_aio_channel()
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()


class GrpcActorClient(DaprActorGrpcClient):
    """`DaprActorGrpcClient` (reminders on one persistent, lazy channel) + HTTP timers.

    daprd stores the bytes of a gRPC `RegisterActorTimer` as a base64 JSON string and sends that
    string back to an HTTP app callback (`DaprActor`), so the timer callback would get base64
    instead of its data. Timers are registered through the HTTP actor API instead, which keeps
    the JSON value as is; they are rare, so the per-request connection does not matter.

    With ``state_http`` (a `StateHttp`), state transactions, one per state-changing call, go
    as their JSON body to the HTTP actor state API on kept-alive connections: the sidecar stores
    the same bytes as through `ExecuteActorStateTransaction` (the JSON values re-encoded
    compactly, as the default serializer does), for a fraction of the CPU; state reads (at
    activation) go the same way.
    """

    def __init__(
        self,
        channel: LazyChannel,
        message_serializer: Any,
        state_serializer: Any,
        state_http: Any = None,
        timeout: int | None = 60,
    ) -> None:
        # not super().__init__(): it would open the channel now (see `LazyChannel`)
        self._timeout = timeout
        self._message_serializer = message_serializer
        self._state_serializer = state_serializer
        self._owns_channel = False
        self._lazy_channel = channel
        self._lazy_stub: Any = None
        self._http: Any = None
        self._state_http = state_http

    @property
    def _channel(self) -> Any:  # type: ignore[override]
        return self._lazy_channel.get()

    @property
    def _stub(self) -> Any:  # type: ignore[override]
        if self._lazy_stub is None:
            self._lazy_stub = api_service_v1.DaprStub(self._lazy_channel.get())
        return self._lazy_stub

    async def get_state(self, actor_type: str, actor_id: str, name: str) -> bytes:
        if self._state_http is None:
            return await super().get_state(actor_type, actor_id, name)
        return bytes(await self._state_http.get_state(actor_type, actor_id, name))

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
