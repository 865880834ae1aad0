"""The embedded Dapr-compatible sidecar. It never imports the host (funchost.app, wiring...).

Names load on first use (PEP 562), so importing a light part (`funchost.sidecar.runner`,
`funchost.sidecar.config`) does not load the servers, gRPC and every subsystem.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock, VirtualClock
    from .config import SidecarConfig
    from .server import Sidecar, SidecarThread, free_port
    from .subsystem import Runtime, Subsystem

_LAZY = {
    "Clock": ".clock",
    "VirtualClock": ".clock",
    "SidecarConfig": ".config",
    "Sidecar": ".server",
    "SidecarThread": ".server",
    "free_port": ".server",
    "Runtime": ".subsystem",
    "Subsystem": ".subsystem",
}

__all__ = [
    "Clock",
    "Runtime",
    "Sidecar",
    "SidecarConfig",
    "SidecarThread",
    "Subsystem",
    "VirtualClock",
    "free_port",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funchost.sidecar' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
