"""The embedded Dapr-compatible sidecar. It never imports the host (funchost.app, wiring...)."""

from .clock import Clock, VirtualClock
from .config import SidecarConfig
from .server import Sidecar, SidecarThread, free_port
from .subsystem import Runtime, Subsystem

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
