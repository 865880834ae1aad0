"""The `dapr.proto.runtime.v1.Dapr` gRPC service, delegating to the subsystems.

Methods this module does not implement are looked up on the subsystems: a subsystem that defines
`async def grpc_<MethodName>(self, request, context)` (e.g. `grpc_InvokeActor` in the actors
package) serves that method. Anything else answers UNIMPLEMENTED naming the method.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from dapr.proto import api_v1
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from google.protobuf import empty_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError
from ._state_backend import StateItem
from .server import Subsystem

log = logging.getLogger("funchost.sidecar.grpc")

_CONCURRENCY = {1: "first-write", 2: "last-write"}


def _md(context: grpc.aio.ServicerContext, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return str(value)
    return ""


async def _abort(context: grpc.aio.ServicerContext, exc: DaprApiError) -> Any:
    await context.abort(exc.grpc_code, exc.message)


class DaprService(dapr_pb2_grpc.DaprServicer):
    """Async servicer for the Dapr runtime API."""

    def __init__(self, sidecar: Any) -> None:
        self.sidecar = sidecar

    def _sub(self, name: str) -> Any:
        return self.sidecar.subsystems.get(name)

    # -- state --------------------------------------------------------------------------------
    def _item(self, raw: Any) -> StateItem:
        state = self._sub("state")
        etag = raw.etag.value if raw.HasField("etag") else None
        concurrency = _CONCURRENCY.get(int(raw.options.concurrency), "last-write")
        value = bytes(raw.value) if hasattr(raw, "value") else None
        return state.item(raw.key, value, etag, concurrency, dict(raw.metadata))

    async def GetState(self, request: Any, context: Any) -> Any:
        try:
            stored = self._sub("state").get(request.store_name, request.key)
        except DaprApiError as exc:
            return await _abort(context, exc)
        if stored is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(
            data=stored.value,
            etag=stored.etag,
            metadata=self._sub("state").response_metadata(stored),
        )

    async def GetBulkState(self, request: Any, context: Any) -> Any:
        try:
            found = self._sub("state").bulk_get(request.store_name, list(request.keys))
        except DaprApiError as exc:
            return await _abort(context, exc)
        items = [
            api_v1.BulkStateItem(key=k, data=v.value, etag=v.etag)
            if v is not None
            else api_v1.BulkStateItem(key=k)
            for k, v in found.items()
        ]
        return api_v1.GetBulkStateResponse(items=items)

    async def SaveState(self, request: Any, context: Any) -> Any:
        try:
            self._sub("state").save(request.store_name, [self._item(s) for s in request.states])
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def DeleteState(self, request: Any, context: Any) -> Any:
        try:
            self._sub("state").delete(request.store_name, self._item(request))
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def DeleteBulkState(self, request: Any, context: Any) -> Any:
        try:
            ops = [("delete", self._item(s)) for s in request.states]
            self._sub("state").transact(request.store_name, ops)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def ExecuteStateTransaction(self, request: Any, context: Any) -> Any:
        try:
            ops = [(op.operationType, self._item(op.request)) for op in request.operations]
            self._sub("state").transact(request.storeName, ops)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    # -- pub/sub ------------------------------------------------------------------------------
    async def PublishEvent(self, request: Any, context: Any) -> Any:
        try:
            await self._sub("pubsub").publish(
                request.pubsub_name,
                request.topic,
                bytes(request.data),
                request.data_content_type,
                dict(request.metadata),
                _md(context, "traceparent"),
                _md(context, "tracestate"),
            )
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def BulkPublishEvent(self, request: Any, context: Any) -> Any:
        entries = [
            (e.entry_id, bytes(e.event), e.content_type, dict(e.metadata)) for e in request.entries
        ]
        try:
            failed = await self._sub("pubsub").bulk_publish(
                request.pubsub_name, request.topic, entries, dict(request.metadata)
            )
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.BulkPublishResponse(
            failedEntries=[
                api_v1.BulkPublishResponseFailedEntry(entry_id=e, error=m) for e, m in failed
            ]
        )

    BulkPublishEventAlpha1 = BulkPublishEvent

    async def SubscribeTopicEventsAlpha1(self, request_iterator: Any, context: Any) -> Any:
        from ._pubsub_stream import serve_stream

        async for response in serve_stream(self._sub("pubsub"), request_iterator, context):
            yield response

    # -- bindings, secrets, jobs --------------------------------------------------------------
    async def InvokeBinding(self, request: Any, context: Any) -> Any:
        bindings = self._sub("bindings")
        if bindings is None:
            return await self._unimplemented("InvokeBinding", context)
        try:
            data, meta = await bindings.invoke(
                request.name, request.operation, bytes(request.data), dict(request.metadata)
            )
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.InvokeBindingResponse(data=data, metadata=meta)

    async def GetSecret(self, request: Any, context: Any) -> Any:
        try:
            data = self._sub("secrets").get(request.store_name, request.key)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.GetSecretResponse(data=data)

    async def GetBulkSecret(self, request: Any, context: Any) -> Any:
        try:
            data = self._sub("secrets").bulk(request.store_name)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.GetBulkSecretResponse(
            data={k: api_v1.SecretResponse(secrets=v) for k, v in data.items()}
        )

    async def _jobs_call(self, method: str, request: Any, context: Any) -> Any:
        jobs = self._sub("jobs")
        if jobs is None:
            return await self._unimplemented(method, context)
        try:
            return await getattr(jobs, "grpc_" + method)(request)
        except DaprApiError as exc:
            return await _abort(context, exc)

    async def ScheduleJob(self, request: Any, context: Any) -> Any:
        return await self._jobs_call("ScheduleJob", request, context)

    async def GetJob(self, request: Any, context: Any) -> Any:
        return await self._jobs_call("GetJob", request, context)

    async def DeleteJob(self, request: Any, context: Any) -> Any:
        return await self._jobs_call("DeleteJob", request, context)

    async def ListJobs(self, request: Any, context: Any) -> Any:
        return await self._jobs_call("ListJobs", request, context)

    async def DeleteJobsByPrefix(self, request: Any, context: Any) -> Any:
        return await self._jobs_call("DeleteJobsByPrefix", request, context)

    ScheduleJobAlpha1 = ScheduleJob
    GetJobAlpha1 = GetJob
    DeleteJobAlpha1 = DeleteJob
    ListJobsAlpha1 = ListJobs
    DeleteJobsByPrefixAlpha1 = DeleteJobsByPrefix

    # -- metadata, shutdown -------------------------------------------------------------------
    async def GetMetadata(self, request: Any, context: Any) -> Any:
        doc = self.sidecar.get("core").metadata_dict()
        resp = api_v1.GetMetadataResponse(
            id=doc.get("id", ""),
            runtime_version=doc.get("runtimeVersion", ""),
            enabled_features=list(doc.get("enabledFeatures") or []),
            extended_metadata=dict(doc.get("extended") or {}),
            registered_components=[
                api_v1.RegisteredComponents(
                    name=c["name"], type=c["type"], version=c.get("version", "v1")
                )
                for c in doc.get("components") or []
            ],
        )
        conn = doc.get("appConnectionProperties") or {}
        resp.app_connection_properties.port = int(conn.get("port") or 0)
        resp.app_connection_properties.protocol = str(conn.get("protocol") or "http")
        resp.app_connection_properties.channel_address = str(conn.get("channelAddress") or "")
        for sub in doc.get("subscriptions") or []:
            item = resp.subscriptions.add(
                pubsub_name=sub["pubsubname"],
                topic=sub["topic"],
                dead_letter_topic=sub.get("deadLetterTopic", ""),
                metadata=sub.get("metadata") or {},
            )
            for rule in sub.get("rules") or []:
                item.rules.rules.add(match=rule["match"], path=rule["path"])
        for actor in doc.get("actors") or []:
            resp.active_actors_count.add(type=actor.get("type", ""), count=actor.get("count", 0))
        return resp

    async def SetMetadata(self, request: Any, context: Any) -> Any:
        self.sidecar.get("core").extended[request.key] = request.value
        return empty_pb2.Empty()

    async def Shutdown(self, request: Any, context: Any) -> Any:
        log.warning("Shutdown requested over gRPC")
        shutdown = getattr(self.sidecar, "request_shutdown", None)
        if callable(shutdown):
            shutdown()
        else:  # not via spawn(): stop() cancels the sidecar's own tasks
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, lambda: loop.create_task(self.sidecar.stop()))
        return empty_pb2.Empty()

    # -- everything else ----------------------------------------------------------------------
    async def _unimplemented(self, method: str, context: Any) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{method} is not implemented by the funchost embedded sidecar",
        )


def _delegate(method: str) -> Callable[..., Awaitable[Any]]:
    async def handler(self: DaprService, request: Any, context: Any) -> Any:
        for sub in self.sidecar.subsystems.values():
            fn = getattr(sub, "grpc_" + method, None)
            if fn is not None and sub.name != "jobs":
                try:
                    return await fn(request, context)
                except DaprApiError as exc:
                    return await _abort(context, exc)
        return await self._unimplemented(method, context)

    handler.__name__ = method
    return handler


def _delegate_stream(method: str) -> Callable[..., Any]:
    """A streaming method served by a subsystem's `grpc_<method>` async generator."""

    async def handler(self: DaprService, request: Any, context: Any) -> Any:
        for sub in self.sidecar.subsystems.values():
            fn = getattr(sub, "grpc_" + method, None)
            if fn is not None:
                try:
                    async for response in fn(request, context):
                        yield response
                except DaprApiError as exc:
                    await _abort(context, exc)
                return
        await self._unimplemented(method, context)

    handler.__name__ = method
    return handler


def _install_delegates() -> None:
    from dapr.proto.runtime.v1 import dapr_pb2

    for method in dapr_pb2.DESCRIPTOR.services_by_name["Dapr"].methods:
        if method.name in DaprService.__dict__:
            continue
        if method.client_streaming or method.server_streaming:
            setattr(DaprService, method.name, _delegate_stream(method.name))
        else:
            setattr(DaprService, method.name, _delegate(method.name))


_install_delegates()


class _GenericOnly:
    """Forwards only the generic handlers of a generated `add_*_to_server` call.

    grpc.aio keeps one pending "registered call" per registered method and waits on all of them
    for every incoming RPC: with the ~100 methods of the Dapr service that is most of the CPU of a
    small call. Generic handlers serve the same methods without that cost.
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        """Dropped on purpose (see the class docstring)."""


def add_servicer_generic(add_fn: Callable[[Any, Any], None], servicer: Any, server: Any) -> None:
    """`add_fn(servicer, server)` (a generated `add_XServicer_to_server`), generic handlers only."""
    add_fn(servicer, _GenericOnly(server))


class GrpcApiSubsystem(Subsystem):
    """Registers `DaprService` on the sidecar's gRPC server (and serves `/v1.0/shutdown`)."""

    name = "grpc_api"

    def routes(self) -> list[BaseRoute]:
        async def shutdown(request: Request) -> Response:
            await DaprService(self.sidecar).Shutdown(None, None)
            return Response(status_code=204)

        return [Route("/v1.0/shutdown", shutdown, methods=["POST", "GET"])]

    def add_grpc(self, server: grpc.aio.Server) -> None:
        add_servicer_generic(
            dapr_pb2_grpc.add_DaprServicer_to_server, DaprService(self.sidecar), server
        )
