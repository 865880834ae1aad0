"""The embedded Dapr-compatible sidecar. It never imports the host (funchost.app, wiring...)."""

from .clock import Clock, VirtualClock
from .server import Sidecar, SidecarConfig, SidecarThread, Subsystem, free_port

__all__ = [
    "Clock",
    "Sidecar",
    "SidecarConfig",
    "SidecarThread",
    "Subsystem",
    "VirtualClock",
    "free_port",
]
