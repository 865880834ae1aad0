"""What every app channel (HTTP or gRPC) offers the subsystems: one interface, two protocols.

pub/sub, bindings, jobs and invocation call `Sidecar.app`, an `AppChannel`; `--app-protocol`
picks `HttpAppChannel` (daprd's `pkg/channel/http`) or `GrpcAppChannel` (`pkg/channel/grpc`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from .response import AppResponse


class EventMessage(Protocol):
    """What a channel reads of a pub/sub message (pub/sub's `Message`)."""

    id: int
    pubsub: str
    topic: str
    metadata: dict[str, str]

    def event(self, raw_subscriber: bool) -> dict[str, Any]:
        """The CloudEvent the subscriber sees."""
        ...

    def body_for(self, raw_subscriber: bool) -> bytes:
        """The HTTP body of a single delivery."""
        ...


class EventSubscription(Protocol):
    """What a channel reads of a subscription (pub/sub's `ActiveSubscription`)."""

    raw: bool

    def headers_for(self, msg: Any) -> dict[str, str]:
        """HTTP headers of a single delivery."""
        ...


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

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        """The app's programmatic subscriptions in `GET /dapr/subscribe`'s JSON shape
        (gRPC: `ListTopicSubscriptions` converted)."""
        ...

    async def deliver_event(
        self, sub: EventSubscription, msg: EventMessage, path: str, timeout: float | None
    ) -> AppResponse:
        """Deliver one event to `path`; the answer in the HTTP contract (status, and a body
        `{"status": SUCCESS|RETRY|DROP}`); raises AppUnavailable when the app is unreachable."""
        ...

    async def deliver_bulk(
        self, envelope: dict[str, Any], raw: bool, path: str, timeout: float | None
    ) -> AppResponse:
        """Deliver a `com.dapr.event.sent.bulk` envelope; the answer in the HTTP contract
        (`{"statuses": [{"entryId", "status"}]}`)."""
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
