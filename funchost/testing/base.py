"""What the runtime's parts share: the skip-worthy errors and the view of the runtime they read.

`LocalRuntime` (runtime.py) builds a stack (embedded, subprocess_stack, daprd) and the helpers
(access.py); they see it through `RuntimeView`, so none of them imports runtime.py back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

__all__ = ["NeedsEmbeddedSidecar", "NeedsVirtualClock", "RuntimeView", "UnsupportedHere"]


class UnsupportedHere(Exception):
    """A helper this runtime cannot serve; the pytest plugin turns it into a skip."""


class NeedsVirtualClock(UnsupportedHere):
    """`advance()` without the embedded sidecar's virtual clock."""


class NeedsEmbeddedSidecar(UnsupportedHere):
    """A helper that looks inside the embedded sidecar (dead letters, outbox) under daprd."""


class RuntimeView(Protocol):
    """The `LocalRuntime` attributes its stacks and helpers read."""

    @property
    def app_id(self) -> str: ...

    @property
    def db_path(self) -> Path: ...

    @property
    def functions_path(self) -> Path | None: ...

    @property
    def resources(self) -> list[Path]: ...

    @property
    def clock(self) -> str: ...

    @property
    def log_level(self) -> str: ...

    @property
    def ready_timeout(self) -> float: ...

    @property
    def _app(self) -> Any: ...

    @property
    def grpc_address(self) -> str:
        """The sidecar's gRPC address."""
        ...

    @property
    def is_virtual(self) -> bool:
        """True on the embedded sidecar's virtual clock."""
        ...

    def _app_factory(self) -> Callable[[], Any]: ...

    async def client(self) -> Any:
        """The SDK's async `DaprClient` for this runtime."""
        ...
