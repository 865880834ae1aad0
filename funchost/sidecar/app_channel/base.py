"""What every app channel (HTTP or gRPC) offers the subsystems: one interface, two protocols.

pub/sub, bindings, jobs and invocation call `Sidecar.app`, an `AppChannel`; `--app-protocol`
picks `HttpAppChannel` (daprd's `pkg/channel/http`) or `GrpcAppChannel` (`pkg/channel/grpc`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .response import AppResponse

if TYPE_CHECKING:
    from .._pubsub_delivery import ActiveSubscription, Message, Outcome
    from ..components import SubscriptionDef


class AppChannel(Protocol):
    """The sidecar -> app calls every subsystem makes, whatever `--app-protocol` is."""

    protocol: str  # "http" or "grpc"
    port: int | None
    host: str
    ready: asyncio.Event
    #: A subscription without any route is delivered with path "" (gRPC) or not at all (HTTP).
    empty_route_ok: bool

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | str | None = None,
        timeout: float | None = None,
    ) -> AppResponse:
        """Invoke `path` on the app with HTTP verb `method` (gRPC: `OnInvoke`)."""
        ...

    async def fast_request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None = None,
    ) -> AppResponse:
        """`request` on the hot path (event delivery, actor calls)."""
        ...

    async def wait_ready(self, timeout: float = 60.0, path: str = "/healthz") -> bool:
        """Wait until the app answers; set `ready` when it does."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def health_check(self, timeout: float = 0.5, path: str = "/healthz") -> bool:
        """One health probe (HTTP: GET `path` answers 2xx; gRPC: HealthCheck succeeds)."""
        ...

    async def list_subscriptions(self) -> list[SubscriptionDef]:
        """The app's programmatic subscriptions (`/dapr/subscribe`, `ListTopicSubscriptions`)."""
        ...

    async def deliver_event(
        self, sub: ActiveSubscription, msg: Message, path: str, timeout: float | None
    ) -> Outcome:
        """Deliver one event to `path`; raises AppUnavailable when the app cannot be reached."""
        ...

    async def deliver_bulk(
        self, sub: ActiveSubscription, msgs: list[Message], path: str, timeout: float | None
    ) -> dict[str, Outcome]:
        """Deliver a batch; the outcome per entry id (`str(msg.id)`)."""
        ...

    async def input_bindings(self, routes: Mapping[str, str]) -> set[str]:
        """The input bindings (name -> HTTP route) the app listens to."""
        ...

    async def deliver_binding(
        self, name: str, route: str, data: bytes, metadata: Mapping[str, str]
    ) -> AppResponse:
        """One input-binding event."""
        ...

    async def deliver_job(self, name: str, data: Any) -> AppResponse:
        """A due job (`data` is the job's `google.protobuf.Any`)."""
        ...
