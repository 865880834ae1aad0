"""What the app answered (`AppResponse`) and why it could not answer (`AppUnavailable`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AppResponse:
    """What the app answered: status, headers and the raw body.

    Over gRPC `status` is daprd's HTTP reading of the gRPC code (`HTTPStatusFromCode`);
    `grpc_code`/`grpc_message` keep the app's own status for gRPC callers, `type_url` the
    `Any` type of the returned data.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    grpc_code: Any = None
    grpc_message: str = ""
    type_url: str = ""
    #: gRPC `BindingEventResponse`: output bindings to send `body` to, and whether in parallel.
    binding_to: list[str] = field(default_factory=list)
    binding_parallel: bool = False

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class AppUnavailable(Exception):
    """The app could not be reached (connection refused, reset, timed out)."""
