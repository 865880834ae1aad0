"""What daprd puts on the wire to a gRPC app, and how it reads the answers (pure functions).

Sources: `dapr/dapr` pkg/messaging/v1/util.go (HTTPStatusFromCode, InternalMetadataToGrpcMetadata),
pkg/runtime/pubsub/subscriptions.go (GRPCEnvelopeFromSubscriptionMessage), pkg/channel/grpc.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc
from dapr.proto.runtime.v1 import appcallback_pb2 as pb
from google.protobuf import json_format, struct_pb2

from .response import AppResponse

if TYPE_CHECKING:
    from .base import EventMessage

#: daprd's `HTTPStatusFromCode` (pkg/messaging/v1/util.go); anything else is 500.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 408,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

#: Headers daprd forwards as `dapr-<name>` metadata (`InternalMetadataToGrpcMetadata`).
_PERMANENT = {
    "accept", "accept-charset", "accept-language", "accept-ranges", "connection", "keep-alive",
    "proxy-connection", "transfer-encoding", "upgrade", "cache-control", "content-type",
    "content-length", "cookie", "date", "expect", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-schedule-tag-match", "if-unmodified-since",
    "max-forwards", "origin", "pragma", "referer", "via", "warning",
}  # fmt: skip
_NOT_FORWARDED = {"destination-app-id", "dapr-app-id", "dapr-api-token", "user-agent", "te"}
#: CloudEvent keys that have their own TopicEventRequest field (the rest go to `extensions`).
_CE_FIELDS = {"id", "source", "datacontenttype", "type", "specversion", "data", "data_base64"}
_Status = pb.TopicEventResponse.TopicEventResponseStatus


def metadata_ok(key: str, value: str) -> bool:
    """True when a key/value may travel as (non-binary) gRPC metadata."""
    return (
        bool(key)
        and key.isascii()
        and value.isascii()
        and value.isprintable()
        and not key.startswith((":", "grpc-"))
        and not key.endswith("-bin")
    )


def invoke_metadata(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """HTTP headers of an invocation as the gRPC metadata daprd sends the app."""
    out: list[tuple[str, str]] = []
    for name, value in headers.items():
        key = name.lower()
        if key in _NOT_FORWARDED:
            continue
        if key in _PERMANENT:
            key = "dapr-" + key
        if metadata_ok(key, value):
            out.append((key, value))
    return out


def _base_type(ct: str) -> str:
    return ct.split(";", 1)[0].strip().lower()


def _is_string_content_type(ct: str) -> bool:
    """daprd's `contenttype.IsStringContentType`: text/* or application/xml."""
    return ct.lower().startswith("text/") or _base_type(ct) == "application/xml"


def _is_json_like(ct: str) -> bool:
    """daprd's `IsJSONContentType || IsCloudEventContentType` (exact types, no +json)."""
    return _base_type(ct) in ("application/json", "application/cloudevents+json")


def event_data(event: Mapping[str, Any]) -> bytes:
    """The `data` bytes of a TopicEventRequest (`GRPCEnvelopeFromSubscriptionMessage`).

    Raises ValueError on bad `data_base64` (daprd: a retriable error).
    """
    if event.get("data_base64") is not None:
        return base64.b64decode(str(event["data_base64"]), validate=True)
    data = event.get("data")
    if data is None:
        return b""
    ct = str(event.get("datacontenttype") or "")
    if _is_string_content_type(ct):
        return data.encode() if isinstance(data, str) else b""
    if _is_json_like(ct):
        return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    return b""


def ce_extensions(event: Mapping[str, Any]) -> struct_pb2.Struct:
    """The CloudEvent keys without a field of their own, as `extensions`."""
    ext = struct_pb2.Struct()
    ext.update({k: v for k, v in event.items() if k not in _CE_FIELDS})
    return ext


def ce_str(event: Mapping[str, Any], key: str) -> str:
    """A CloudEvent attribute when it is a string, else "" (as daprd)."""
    value = event.get(key)
    return value if isinstance(value, str) else ""


def topic_event_request(event: Mapping[str, Any], topic: str, pubsub: str, path: str) -> Any:
    """The TopicEventRequest daprd builds for one CloudEvent."""
    return pb.TopicEventRequest(
        id=ce_str(event, "id"),
        source=ce_str(event, "source"),
        type=ce_str(event, "type"),
        spec_version=ce_str(event, "specversion"),
        data_content_type=ce_str(event, "datacontenttype"),
        data=event_data(event),
        topic=topic,
        pubsub_name=pubsub,
        path=path,
        extensions=ce_extensions(event),
    )


def message_metadata(msg: EventMessage) -> list[tuple[str, str]]:
    """A message's metadata as outgoing gRPC metadata (`WithCustomGRPCMetadata`)."""
    meta = {"pubsubname": msg.pubsub}
    for k, v in msg.metadata.items():
        key = k.lower()
        if key not in ("content-type", "content-length"):
            meta[key] = v
    return [(k, v) for k, v in meta.items() if metadata_ok(k, v)]


def status_name(status: int) -> str:
    """A TopicEventResponse status as daprd reads it (unknown values retry)."""
    if status == _Status.SUCCESS:
        return "SUCCESS"
    if status == _Status.DROP:
        return "DROP"
    return "RETRY"


def event_answer(status: int, doc: dict[str, Any], err: Any = None) -> AppResponse:
    """An event delivery's outcome in the HTTP app contract pub/sub reads (PROTOCOL.md)."""
    code = err.code() if err is not None else grpc.StatusCode.OK
    message = (err.details() or "") if err is not None else ""
    return AppResponse(status, {}, json.dumps(doc).encode(), grpc_code=code, grpc_message=message)


def status_body(err: grpc.aio.AioRpcError) -> bytes:
    """protojson of the app's status, as daprd writes it to an HTTP caller."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            from google.rpc import status_pb2

            status = status_pb2.Status()
            status.ParseFromString(value)
            return json_format.MessageToJson(status, indent=None).encode()
    doc = {"code": err.code().value[0], "message": err.details() or ""}
    return json.dumps(doc).encode()


def is_unavailable(err: grpc.aio.AioRpcError) -> bool:
    """The app could not be reached (connection refused or dropped)."""
    return err.code() == grpc.StatusCode.UNAVAILABLE
