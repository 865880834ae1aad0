"""The one error type the Dapr API handlers raise, with its HTTP and gRPC renderings.

Errors can carry daprd's rich details (`dapr/kit: errors/errors.go`): chain
`.with_resource(...)`, `.with_field_violation(...)`, `.with_error_info(reason, metadata)` in the
order daprd's builder appends them. gRPC callers get a `google.rpc.Status` with the details packed
(`grpc-status-details-bin`, what the SDK's `DaprGrpcError.status_details()` reads); HTTP callers get
`{"errorCode", "message", "details": [...]}` in kit's `JSONErrorValue` shape.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "dapr.io"
_TYPE_PREFIX = "type.googleapis.com/"


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
        self.details: list[Message] = []
        self.http_details = True  # False: daprd answers HTTP in the legacy shape (no details)
        self._http_metadata: dict[int, dict[str, str]] = {}
        self.http_variant: DaprApiError | None = None  # what HTTP callers get, where it differs

    # -- rich details (daprd's kit/errors builder) --------------------------------------------
    def with_error_info(
        self,
        reason: str,
        metadata: dict[str, str] | None = None,
        http_metadata: dict[str, str] | None = None,
    ) -> DaprApiError:
        """Append a `google.rpc.ErrorInfo` (domain `dapr.io`); `http_metadata` replaces
        `metadata` in the HTTP body where daprd fills it only there (e.g. `appID`)."""
        info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
        info.metadata.update(metadata or {})
        self.details.append(info)
        if http_metadata is not None:
            self._http_metadata[id(info)] = http_metadata
        return self

    def grpc_only(self) -> DaprApiError:
        """Keep the details off the HTTP body (daprd's legacy HTTP errors, e.g. etag ones)."""
        self.http_details = False
        return self

    def with_resource(
        self, resource_type: str, name: str, owner: str = "", description: str = ""
    ) -> DaprApiError:
        """Append a `google.rpc.ResourceInfo`."""
        self.details.append(
            error_details_pb2.ResourceInfo(
                resource_type=resource_type,
                resource_name=name,
                owner=owner,
                description=description,
            )
        )
        return self

    def with_field_violation(self, field: str, description: str) -> DaprApiError:
        """Append a `google.rpc.BadRequest` with one field violation."""
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=field, description=description
        )
        self.details.append(error_details_pb2.BadRequest(field_violations=[violation]))
        return self

    @property
    def reason(self) -> str | None:
        """The ErrorInfo reason, when the error carries one."""
        for detail in self.details:
            if isinstance(detail, error_details_pb2.ErrorInfo):
                return str(detail.reason)
        return None

    # -- renderings ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """daprd's HTTP error body (legacy `errorCode` + `message`, `details` when rich)."""
        if self.http_variant is not None:
            return self.http_variant.to_json()
        body: dict[str, Any] = {"errorCode": self.error_code, "message": self.message}
        if self.details and self.http_details:
            body["details"] = [
                _detail_json(d, self._http_metadata.get(id(d))) for d in self.details
            ]
        return body

    def grpc_status(self) -> grpc.Status:
        """The gRPC status with the details packed, for `context.abort_with_status`."""
        packed = []
        for detail in self.details:
            item = any_pb2.Any()
            item.Pack(detail)
            packed.append(item)
        proto = status_pb2.Status(
            code=self.grpc_code.value[0], message=self.message, details=packed
        )
        return rpc_status.to_status(proto)


def _detail_json(detail: Message, http_metadata: dict[str, str] | None = None) -> dict[str, Any]:
    kind = _TYPE_PREFIX + detail.DESCRIPTOR.full_name
    if isinstance(detail, error_details_pb2.ErrorInfo):
        meta = (http_metadata if http_metadata is not None else dict(detail.metadata)) or None
        return {"@type": kind, "reason": detail.reason, "domain": detail.domain, "metadata": meta}
    if isinstance(detail, error_details_pb2.ResourceInfo):
        return {
            "@type": kind,
            "resource_type": detail.resource_type,
            "resource_name": detail.resource_name,
            "owner": detail.owner,
            "description": detail.description,
        }
    if isinstance(detail, error_details_pb2.BadRequest):
        violations = [
            {"field": v.field, "description": v.description} for v in detail.field_violations
        ]
        return {"@type": kind, "field_violations": violations}
    return {"@type": kind}


async def abort(context: grpc.aio.ServicerContext, exc: DaprApiError) -> Any:
    """End a gRPC call with `exc` (rich details in the trailers when it has any)."""
    if exc.details:
        status = exc.grpc_status()
        await context.abort(status.code, status.details, status.trailing_metadata)
    await context.abort(exc.grpc_code, exc.message)


def not_found(
    kind: str,
    name: str,
    error_code: str,
    http_status: int = 400,
    reason: str | None = None,
    http_metadata: dict[str, str] | None = None,
) -> DaprApiError:
    """daprd's answer for an unknown component name (ErrorInfo `reason` where daprd sets one)."""
    exc = DaprApiError(
        http_status,
        error_code,
        f"{kind} {name} is not found: define a Component named {name!r} in a resources folder",
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    return exc.with_error_info(reason, http_metadata=http_metadata) if reason else exc
