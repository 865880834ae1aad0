"""The sidecar -> app gRPC channel (daprd's `pkg/channel/grpc`), `--app-protocol grpc`.

The app serves `AppCallback`, `AppCallbackAlpha` and `AppCallbackHealthCheck`
(`dapr.ext.grpc.App` does). Requests and outcomes follow daprd (shared/protocol/
app-channel-multi-app-errors.md §1): TopicEventResponse SUCCESS/RETRY/DROP, UNIMPLEMENTED drops
without dead-lettering, other errors retry; bulk and job events fall back to the Alpha RPCs only
when the stable one is UNIMPLEMENTED; every call carries `dapr-api-token` when APP_API_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import appcallback_pb2 as pb
from dapr.proto.runtime.v1 import appcallback_pb2_grpc as pb_grpc
from google.protobuf import empty_pb2

from .grpc_wire import (
    HTTP_STATUS,
    ce_extensions,
    ce_str,
    event_answer,
    event_data,
    invoke_metadata,
    is_unavailable,
    message_metadata,
    metadata_ok,
    status_body,
    status_name,
    topic_event_request,
)
from .response import AppResponse, AppUnavailable

if TYPE_CHECKING:
    from .base import EventMessage, EventSubscription

log = logging.getLogger("funchost.sidecar.app_channel")

_STUBS: dict[str, Any] = {
    "AppCallback": pb_grpc.AppCallbackStub,
    "AppCallbackAlpha": pb_grpc.AppCallbackAlphaStub,
    "AppCallbackHealthCheck": pb_grpc.AppCallbackHealthCheckStub,
}


class GrpcAppChannel:
    """Calls a gRPC app (AppCallback services) on loopback."""

    protocol = "grpc"
    empty_route_ok = True

    def __init__(
        self,
        port: int | None,
        host: str = "127.0.0.1",
        app_api_token: str | None = None,
        timeout: float = 60.0,
        health_check: bool = False,
    ) -> None:
        self.port = port
        self.host = host
        self.app_api_token = app_api_token
        self.timeout = timeout
        self.health_check_enabled = health_check
        self.ready = asyncio.Event()
        self._channel: grpc.aio.Channel | None = None
        self._target = ""
        self._stub_cache: dict[str, tuple[grpc.aio.Channel, Any]] = {}

    # -- plumbing ------------------------------------------------------------------------------
    def _stubs(self) -> grpc.aio.Channel:
        if self.port is None:
            raise AppUnavailable("no app port configured (--app-port)")
        target = f"{self.host}:{self.port}"
        if self._channel is None or self._target != target:
            if self._channel is not None:
                old = self._channel
                asyncio.get_running_loop().create_task(old.close())
            self._channel = grpc.aio.insecure_channel(
                target,
                options=[
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                    ("grpc.max_send_message_length", 64 * 1024 * 1024),
                    ("grpc.initial_reconnect_backoff_ms", 100),
                    ("grpc.min_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 1000),
                ],
            )
            self._target = target
        return self._channel

    def _meta(self, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        meta = list(extra or [])
        if self.app_api_token:
            meta.append(("dapr-api-token", self.app_api_token))
        return meta

    async def _call(
        self,
        service: str,
        rpc: str,
        request: Any,
        metadata: list[tuple[str, str]] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One unary call; returns the call object (await it for the response)."""
        channel = self._stubs()
        stub = self._stub_cache.get(service)
        if stub is None or stub[0] is not channel:
            stub = (channel, _STUBS[service](channel))
            self._stub_cache[service] = stub
        return getattr(stub[1], rpc)(
            request, metadata=self._meta(metadata), timeout=timeout or self.timeout
        )

    async def _unary(
        self,
        service: str,
        rpc: str,
        request: Any,
        metadata: list[tuple[str, str]] | None = None,
        timeout: float | None = None,
    ) -> Any:
        return await (await self._call(service, rpc, request, metadata, timeout))

    async def _with_fallback(
        self, stable: Callable[[], Awaitable[Any]], alpha: Callable[[], Awaitable[Any]]
    ) -> Any:
        """daprd: the stable RPC, then the Alpha one only when the stable is UNIMPLEMENTED."""
        try:
            return await stable()
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
        return await alpha()

    # -- readiness and health -------------------------------------------------------------------
    async def health_check(self, timeout: float = 0.5, path: str = "/healthz") -> bool:
        """`AppCallbackHealthCheck/HealthCheck`; any error (even UNIMPLEMENTED) is unhealthy."""
        try:
            await self._unary(
                "AppCallbackHealthCheck", "HealthCheck", empty_pb2.Empty(), [], timeout
            )
        except (grpc.aio.AioRpcError, AppUnavailable):
            return False
        return True

    async def wait_ready(self, timeout: float = 60.0, path: str = "/healthz") -> bool:
        """Wait until the app's port accepts a gRPC connection (or, with app health checks on,
        until one HealthCheck succeeds); set `ready` then."""
        if self.port is None:
            return False
        deadline = time.monotonic() + timeout
        channel = self._stubs()
        while time.monotonic() < deadline:
            try:
                await asyncio.wait_for(channel.channel_ready(), 2.0)
            except TimeoutError:
                continue
            if not self.health_check_enabled or await self.health_check():
                self.ready.set()
                return True
            await asyncio.sleep(0.05)
        return False

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    # -- service invocation --------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | str | None = None,
        timeout: float | None = None,
    ) -> AppResponse:
        """`OnInvoke` with the HTTP verb and raw query string in `http_extension`."""
        hdrs = dict(headers or {})
        content_type = next((v for k, v in hdrs.items() if k.lower() == "content-type"), "")
        if isinstance(params, Mapping):
            from urllib.parse import urlencode

            params = urlencode(params)
        verb = method.upper()
        names = common_pb2.HTTPExtension.Verb.keys()
        req = common_pb2.InvokeRequest(
            method=path.lstrip("/"),
            content_type=content_type,
            http_extension=common_pb2.HTTPExtension(
                verb=common_pb2.HTTPExtension.Verb.Value(verb if verb in names else "POST"),
                querystring=params or "",
            ),
        )
        req.data.value = body or b""
        return await self.invoke(req, invoke_metadata(hdrs), timeout)

    async def invoke(
        self, req: Any, metadata: list[tuple[str, str]], timeout: float | None = None
    ) -> AppResponse:
        """Send an `InvokeRequest`; the answer read as daprd does (`invokeMethodV1`)."""
        try:
            call = await self._call("AppCallback", "OnInvoke", req, metadata, timeout)
            resp = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as err:
            if is_unavailable(err):
                raise AppUnavailable(f"gRPC app at {self._target}: {err.details()}") from None
            return AppResponse(
                HTTP_STATUS.get(err.code(), 500),
                {"Content-Type": "application/json"},
                status_body(err),
                grpc_code=err.code(),
                grpc_message=err.details() or "",
            )
        headers = {
            str(k): str(v) for k, v in (initial or ()) if isinstance(v, str) and metadata_ok(k, v)
        }
        content_type = resp.content_type
        if resp.data.type_url:
            content_type = "application/x-protobuf"
        if content_type:
            headers["Content-Type"] = content_type
        return AppResponse(
            200,
            headers,
            bytes(resp.data.value),
            grpc_code=grpc.StatusCode.OK,
            type_url=resp.data.type_url,
        )

    async def fast_request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None = None,
    ) -> AppResponse:
        """Same as `request` (gRPC keeps one multiplexed connection anyway); a query string in
        `path` goes to `http_extension.querystring`, raw."""
        path, _, query = path.partition("?")
        return await self.request(
            method, path, body=body, headers=headers, params=query or None, timeout=timeout
        )

    # -- pub/sub -------------------------------------------------------------------------------
    async def list_subscriptions(self) -> list[dict[str, Any]]:
        """`ListTopicSubscriptions` in `/dapr/subscribe` shape; UNIMPLEMENTED means none."""
        try:
            resp = await self._unary("AppCallback", "ListTopicSubscriptions", empty_pb2.Empty())
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                log.info("pubsub subscriptions: gRPC app does not implement ListTopicSubscriptions")
            else:
                log.warning("error getting topic list from app: %s", err.details())
            return []
        except AppUnavailable as exc:
            log.warning("error getting topic list from app: %s", exc)
            return []
        subs = []
        for s in resp.subscriptions:
            item: dict[str, Any] = {
                "pubsubname": s.pubsub_name,
                "topic": s.topic,
                "metadata": dict(s.metadata),
                "deadLetterTopic": s.dead_letter_topic,
                "routes": {
                    "rules": [{"match": r.match, "path": r.path} for r in s.routes.rules],
                    "default": s.routes.default,
                },
            }
            if s.HasField("bulk_subscribe"):
                b = s.bulk_subscribe
                item["bulkSubscribe"] = {
                    "enabled": b.enabled,
                    "maxMessagesCount": b.max_messages_count or None,
                    "maxAwaitDurationMs": b.max_await_duration_ms or None,
                }
            subs.append(item)
        return subs

    async def deliver_event(
        self, sub: EventSubscription, msg: EventMessage, path: str, timeout: float | None
    ) -> AppResponse:
        """`OnTopicEvent`: its status; UNIMPLEMENTED answers 404 (dropped without a dead
        letter, as daprd), any other error 500 (retried)."""
        try:
            req = topic_event_request(msg.event(sub.raw), msg.topic, msg.pubsub, path)
        except ValueError as exc:
            log.warning("event %s on %s: bad data_base64: %s", msg.id, msg.topic, exc)
            return event_answer(500, {"error": "data_base64 is not valid base64"})
        try:
            resp = await self._unary(
                "AppCallback", "OnTopicEvent", req, message_metadata(msg), timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                log.warning(
                    "non-retriable error returned from app while processing pub/sub event %s: %s",
                    msg.id,
                    err.details(),
                )
                return event_answer(404, {"error": err.details()}, err)
            if is_unavailable(err):
                raise AppUnavailable(f"gRPC app at {self._target}: {err.details()}") from None
            log.warning("error from app for event %s: %s %s", msg.id, err.code(), err.details())
            return event_answer(500, {"error": err.details()}, err)
        return event_answer(200, {"status": status_name(resp.status)})

    def _bulk_entry(self, entry: dict[str, Any], raw: bool) -> Any:
        event = entry["event"]
        meta = {str(k): str(v) for k, v in (entry.get("metadata") or {}).items()}
        if raw:
            return pb.TopicEventBulkRequestEntry(
                entry_id=entry["entryId"],
                bytes=event_data(event),
                content_type="application/octet-stream",
                metadata=meta,
            )
        ce = pb.TopicEventCERequest(
            id=ce_str(event, "id"),
            source=ce_str(event, "source"),
            type=ce_str(event, "type"),
            spec_version=ce_str(event, "specversion"),
            data_content_type=ce_str(event, "datacontenttype"),
            data=event_data(event),
            extensions=ce_extensions(event),
        )
        return pb.TopicEventBulkRequestEntry(
            entry_id=entry["entryId"],
            cloud_event=ce,
            content_type=entry.get("contentType") or "application/cloudevents+json",
            metadata=meta,
        )

    async def deliver_bulk(
        self, envelope: dict[str, Any], raw: bool, path: str, timeout: float | None
    ) -> AppResponse:
        """`OnBulkTopicEvent` (Alpha on UNIMPLEMENTED); per-entry statuses. A call that is
        UNIMPLEMENTED on both drops every entry (daprd); other errors retry them all."""
        ids = [e["entryId"] for e in envelope["entries"]]
        try:
            entries = [self._bulk_entry(e, raw) for e in envelope["entries"]]
        except ValueError:
            return event_answer(500, {"error": "data_base64 is not valid base64"})
        req = pb.TopicEventBulkRequest(
            id=envelope["id"],
            entries=entries,
            metadata={str(k): str(v) for k, v in envelope["metadata"].items()},
            topic=envelope["topic"],
            pubsub_name=envelope["pubsubname"],
            type=envelope["type"],
            path=path,
        )

        def call(service: str, rpc: str) -> Callable[[], Awaitable[Any]]:
            return lambda: self._unary(service, rpc, req, [], timeout)

        try:
            resp = await self._with_fallback(
                call("AppCallback", "OnBulkTopicEvent"),
                call("AppCallbackAlpha", "OnBulkTopicEventAlpha1"),
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                drop = [{"entryId": i, "status": "DROP"} for i in ids]
                return event_answer(200, {"statuses": drop}, err)
            if is_unavailable(err):
                raise AppUnavailable(f"gRPC app at {self._target}: {err.details()}") from None
            return event_answer(500, {"error": err.details()}, err)
        statuses = [
            {"entryId": item.entry_id, "status": status_name(item.status)} for item in resp.statuses
        ]
        return event_answer(200, {"statuses": statuses})

    # -- bindings and jobs -----------------------------------------------------------------------
    async def input_bindings(self, routes: Mapping[str, str]) -> set[str]:
        """`ListInputBindings` once; any error means none (daprd swallows it)."""
        try:
            resp = await self._unary(
                "AppCallback", "ListInputBindings", empty_pb2.Empty(), [], timeout=3.0
            )
            listed = set(resp.bindings)
        except (grpc.aio.AioRpcError, AppUnavailable) as exc:
            log.warning("ListInputBindings failed, no input binding is started: %s", exc)
            listed = set()
        for name in routes:
            if name not in listed:
                log.info("app has not subscribed to binding %s.", name)
        return {name for name in routes if name in listed}

    async def deliver_binding(
        self, name: str, route: str, data: bytes, metadata: Mapping[str, str]
    ) -> AppResponse:
        """`OnBindingEvent`; the response `data` is returned to the binding."""
        req = pb.BindingEventRequest(name=name, data=data, metadata=dict(metadata))
        try:
            resp = await self._unary("AppCallback", "OnBindingEvent", req)
        except grpc.aio.AioRpcError as err:
            if is_unavailable(err):
                raise AppUnavailable(f"gRPC app at {self._target}: {err.details()}") from None
            return AppResponse(
                HTTP_STATUS.get(err.code(), 500),
                {},
                f"error invoking app: {err.details()}".encode(),
                grpc_code=err.code(),
                grpc_message=err.details() or "",
            )
        return AppResponse(
            200,
            {},
            bytes(resp.data),
            grpc_code=grpc.StatusCode.OK,
            binding_to=list(resp.to),
            binding_parallel=resp.concurrency == pb.BindingEventResponse.PARALLEL,
        )

    async def deliver_job(self, name: str, data: Any) -> AppResponse:
        """`OnJobEvent` (Alpha on UNIMPLEMENTED), as daprd's `sendJob`."""
        req = pb.JobEventRequest(
            name=name,
            method="job/" + name,
            content_type=data.type_url,
            http_extension=common_pb2.HTTPExtension(verb=common_pb2.HTTPExtension.POST),
        )
        req.data.CopyFrom(data)
        try:
            await self._with_fallback(
                lambda: self._unary("AppCallback", "OnJobEvent", req),
                lambda: self._unary("AppCallbackAlpha", "OnJobEventAlpha1", req),
            )
        except grpc.aio.AioRpcError as err:
            if is_unavailable(err):
                raise AppUnavailable(f"gRPC app at {self._target}: {err.details()}") from None
            return AppResponse(
                HTTP_STATUS.get(err.code(), 500),
                {},
                (err.details() or "").encode(),
                grpc_code=err.code(),
                grpc_message=err.details() or "",
            )
        return AppResponse(200, {}, b"", grpc_code=grpc.StatusCode.OK)
