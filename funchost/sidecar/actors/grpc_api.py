"""The unary actor RPCs of `dapr.proto.runtime.v1.Dapr`; `grpc_api.DaprService` calls each.

Conversions follow daprd: reminder `data` bytes are stored as a JSON base64 string (what the HTTP
API stores for the SDK's body), timer `data` bytes likewise; an app error in `InvokeActor` comes
back as the response data (daprd does not turn actor errors into gRPC errors).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import grpc
from dapr.proto import api_v1
from google.protobuf import empty_pb2

from .._errors import DaprApiError
from ..app_channel import AppUnavailable
from ..timeformats import DurationError
from ._turns import StackDepthExceeded
from .state import StateOp

if TYPE_CHECKING:
    from .subsystem import ActorsSubsystem

REENTRANCY_KEY = "Dapr-Reentrancy-Id"


async def _hosted(sub: ActorsSubsystem, actor_type: str) -> None:
    await sub.await_types(actor_type)
    if sub.config_error:
        raise DaprApiError(500, "ERR_ACTOR_RUNTIME_NOT_FOUND", sub.config_error)
    if actor_type not in sub.config.types:
        raise DaprApiError(400, "ERR_ACTOR_INSTANCE_MISSING", sub.unknown_type_message(actor_type))


def _b64(data: bytes) -> str | None:
    return base64.b64encode(data).decode() if data else None


async def invoke_actor(sub: ActorsSubsystem, request: Any) -> Any:
    meta = {k.lower(): v for k, v in request.metadata.items()}
    await sub.await_types(request.actor_type)
    if request.actor_type not in sub.config.types:
        host = await sub.placement.host_for(request.actor_type, request.actor_id)
        if host is not None:  # hosted by another app: its sidecar runs the call
            path = "/v1.0/actors/{}/{}/method/{}".format(
                *(quote(p, safe="") for p in (request.actor_type, request.actor_id, request.method))
            )
            try:
                sent = {k: v for k, v in meta.items() if not k.startswith((":", "grpc-"))}
                resp = await sub.placement.forward(host, "PUT", path, sent, bytes(request.data))
            except AppUnavailable as exc:
                raise DaprApiError(
                    500, "ERR_ACTOR_INVOKE_METHOD", f"error invoke actor method: {exc}"
                ) from None
            if resp.status >= 400 and b'"errorCode"' in resp.body:
                doc = resp.json()
                raise DaprApiError(resp.status, doc["errorCode"], doc.get("message", ""))
            return api_v1.InvokeActorResponse(data=resp.body)
    await _hosted(sub, request.actor_type)
    try:
        resp = await sub.invoke(
            request.actor_type,
            request.actor_id,
            request.method,
            bytes(request.data),
            meta,
            meta.get(REENTRANCY_KEY.lower()),
        )
    except (StackDepthExceeded, AppUnavailable) as exc:
        raise DaprApiError(
            500, "ERR_ACTOR_INVOKE_METHOD", f"error invoke actor method: {exc}"
        ) from None
    return api_v1.InvokeActorResponse(data=resp.body)


async def get_actor_state(sub: ActorsSubsystem, request: Any) -> Any:
    await _hosted(sub, request.actor_type)
    found = await sub.state.get(request.actor_type, request.actor_id, request.key)
    return api_v1.GetActorStateResponse(data=found.value if found is not None else b"")


async def execute_actor_state_transaction(sub: ActorsSubsystem, request: Any) -> Any:
    await _hosted(sub, request.actor_type)
    ops: list[StateOp] = []
    for op in request.operations:
        kind = op.operationType.lower()
        if kind not in ("upsert", "delete"):
            raise DaprApiError(
                400,
                "ERR_MALFORMED_REQUEST",
                f"unknown actor state operation {op.operationType!r} (use upsert or delete)",
                grpc.StatusCode.INVALID_ARGUMENT,
            )
        ttl_raw = op.metadata.get("ttlInSeconds")
        try:
            ttl = float(ttl_raw) if ttl_raw else None
        except ValueError:
            raise DaprApiError(
                400,
                "ERR_MALFORMED_REQUEST",
                f"ttlInSeconds {ttl_raw!r} is not a number",
                grpc.StatusCode.INVALID_ARGUMENT,
            ) from None
        value = bytes(op.value.value) if kind == "upsert" else None
        ops.append(StateOp(kind, op.key, value, ttl))
    await sub.state.transact(request.actor_type, request.actor_id, ops)
    return empty_pb2.Empty()


def _times(request: Any) -> dict[str, Any]:
    """The registration body the HTTP API would have received (data as base64, as daprd)."""
    return {
        "dueTime": request.due_time,
        "period": request.period,
        "ttl": request.ttl,
        "data": _b64(bytes(request.data)),
    }


def _malformed(what: str, exc: Exception) -> DaprApiError:
    return DaprApiError(
        400,
        "ERR_MALFORMED_REQUEST",
        f"error creating actor {what}: {exc}",
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def register_actor_reminder(sub: ActorsSubsystem, request: Any) -> Any:
    await _hosted(sub, request.actor_type)
    try:
        sub.reminders.register(request.actor_type, request.actor_id, request.name, _times(request))
    except DurationError as exc:
        raise _malformed("reminder", exc) from None
    return empty_pb2.Empty()


async def unregister_actor_reminder(sub: ActorsSubsystem, request: Any) -> Any:
    sub.reminders.delete(request.actor_type, request.actor_id, request.name)
    return empty_pb2.Empty()


async def get_actor_reminder(sub: ActorsSubsystem, request: Any) -> Any:
    found = sub.reminders.get(request.actor_type, request.actor_id, request.name)
    if found is None:
        raise DaprApiError(
            404,
            "ERR_ACTOR_REMINDER_GET",
            f"reminder {request.name!r} not found for actor "
            f"{request.actor_type}/{request.actor_id}",
            grpc.StatusCode.NOT_FOUND,
        )
    resp = api_v1.GetActorReminderResponse(actor_type=found.actor_type, actor_id=found.actor_id)
    if found.due_time:
        resp.due_time = found.due_time
    if found.period:
        resp.period = found.period
    if found.ttl:
        resp.ttl = found.ttl
    return resp


async def register_actor_timer(sub: ActorsSubsystem, request: Any) -> Any:
    await _hosted(sub, request.actor_type)
    body = {**_times(request), "callback": request.callback}
    try:
        sub.activate(request.actor_type, request.actor_id)
        sub.timers.register(request.actor_type, request.actor_id, request.name, body)
    except DurationError as exc:
        raise _malformed("timer", exc) from None
    return empty_pb2.Empty()


async def unregister_actor_timer(sub: ActorsSubsystem, request: Any) -> Any:
    sub.timers.delete(request.actor_type, request.actor_id, request.name)
    return empty_pb2.Empty()
