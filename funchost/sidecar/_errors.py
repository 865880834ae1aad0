"""The one error type the Dapr API handlers raise, with its HTTP and gRPC renderings."""

from __future__ import annotations

import grpc


class DaprApiError(Exception):
    """An API error as daprd reports it: HTTP status + errorCode, and the gRPC status code."""

    def __init__(
        self,
        http_status: int,
        error_code: str,
        message: str,
        grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.message = message
        self.grpc_code = grpc_code

    def to_json(self) -> dict[str, str]:
        return {"errorCode": self.error_code, "message": self.message}


def not_found(kind: str, name: str, error_code: str, http_status: int = 400) -> DaprApiError:
    """daprd's answer for an unknown component name."""
    return DaprApiError(
        http_status,
        error_code,
        f"{kind} {name} is not found: define a Component named {name!r} in a resources folder",
        grpc.StatusCode.INVALID_ARGUMENT,
    )
