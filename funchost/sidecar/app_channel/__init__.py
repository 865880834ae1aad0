"""The sidecar -> app channels: HTTP (`--app-protocol http`, the default) and gRPC.

`make_channel(config)` builds the one `SidecarConfig.app_protocol` names; subsystems only use
the `AppChannel` interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import AppChannel
from .fast_http import FastHttpPool
from .http import HttpAppChannel
from .response import AppResponse, AppUnavailable

if TYPE_CHECKING:
    from .grpc_channel import GrpcAppChannel

#: The values `--app-protocol` accepts (daprd also knows https/grpcs/h2c, not served here).
APP_PROTOCOLS = ("http", "grpc")


def make_channel(config: Any) -> AppChannel:
    """The app channel for a `SidecarConfig` (`app_protocol` "http" or "grpc")."""
    protocol = (getattr(config, "app_protocol", "http") or "http").lower()
    if protocol == "grpc":
        from .grpc_channel import GrpcAppChannel

        return GrpcAppChannel(
            config.app_port,
            host=config.app_host,
            app_api_token=config.app_api_token,
            health_check=bool(getattr(config, "enable_app_health_check", False)),
        )
    if protocol != "http":
        raise ValueError(
            f"--app-protocol {protocol!r} is not supported by the embedded sidecar: "
            f"use one of {', '.join(APP_PROTOCOLS)}"
        )
    return HttpAppChannel(config.app_port, host=config.app_host, app_api_token=config.app_api_token)


def __getattr__(name: str) -> Any:
    """`GrpcAppChannel` (`--app-protocol grpc`) is imported at first use: an HTTP app's sidecar
    does not load it."""
    if name == "GrpcAppChannel":
        from .grpc_channel import GrpcAppChannel

        return GrpcAppChannel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APP_PROTOCOLS",
    "AppChannel",
    "AppResponse",
    "AppUnavailable",
    "FastHttpPool",
    "GrpcAppChannel",
    "HttpAppChannel",
    "make_channel",
]
