"""The sidecar -> app channels (HTTP today; gRPC app channels would join here)."""

from .fast_http import FastHttpPool
from .http import AppChannel
from .response import AppResponse, AppUnavailable

__all__ = ["AppChannel", "AppResponse", "AppUnavailable", "FastHttpPool"]
