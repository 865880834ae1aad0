"""What a sidecar subsystem is (`Subsystem`) and what it may use of the sidecar (`Runtime`).

Kept apart from `server.py` so that subsystems never import the module that composes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import grpc
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from .app_channel import AppChannel
    from .clock import Clock
    from .config import SidecarConfig
    from .store import Store

T = TypeVar("T")


class Runtime(Protocol):
    """The shared pieces of a running sidecar a subsystem may use (`Sidecar` provides them)."""

    config: SidecarConfig
    clock: Clock
    store: Store
    app: AppChannel
    started: asyncio.Event
    stopping: bool
    quiesced: bool
    subsystems: dict[str, Subsystem]

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run a background task owned by the sidecar."""
        ...

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the sidecar."""
        ...

    def request_shutdown(self) -> None:
        """Ask whoever runs the sidecar to stop it (gRPC `Shutdown`, `/v1.0/shutdown`)."""
        ...


class Subsystem:
    """Base class for a sidecar subsystem; override what you need."""

    name: str = "subsystem"

    def __init__(self, sidecar: Runtime) -> None:
        self.sidecar = sidecar

    def routes(self) -> list[BaseRoute]:
        """HTTP routes this subsystem serves on the Dapr HTTP API."""
        return []

    def add_grpc(self, server: grpc.aio.Server) -> None:
        """Register gRPC services on the sidecar's gRPC server."""

    async def start(self) -> None:
        """Start background work (after the servers listen)."""

    async def on_app_ready(self) -> None:
        """The app answers on its port: read its configuration (subscriptions, actors...)."""

    async def quiesce(self) -> None:
        """Stop dispatching new work to the app (its API stays up); called before `stop()`."""

    async def stop(self) -> None:
        """Stop background work; called in reverse start order."""

    def busy(self) -> bool:
        """True while work is in flight or due now (deliveries, turns, work items)."""
        return False

    def metadata_info(self) -> dict[str, Any]:
        """Entries this subsystem adds to the `/v1.0/metadata` document."""
        return {}
