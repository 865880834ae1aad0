"""The `dapr.proto.runtime.v1.Dapr` gRPC service: one method per RPC, each a short call into
the subsystem that owns it (state, pub/sub, bindings, secrets, jobs, invocation, actors, metadata,
configuration, locks).

An RPC this class does not define answers UNIMPLEMENTED naming the method (`__getattr__`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from dapr.proto import api_v1
from dapr.proto.runtime.v1 import dapr_pb2, dapr_pb2_grpc
from google.protobuf import empty_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError, abort
from .actors import ActorsSubsystem
from .actors import grpc_api as actors_grpc
from .bindings import BindingsSubsystem
from .configuration.subsystem import ConfigurationSubsystem
from .core import CoreSubsystem
from .invoke import InvokeSubsystem
from .jobs import JobsSubsystem
from .lock.subsystem import LockSubsystem
from .pubsub.subsystem import PubSubSubsystem
from .secrets import SecretsSubsystem
from .state.backend import StateItem
from .state.subsystem import StateSubsystem
from .store_errors import patiently
from .subsystem import Runtime, Subsystem

log = logging.getLogger("funchost.sidecar.grpc")

_CONCURRENCY = {1: "first-write", 2: "last-write"}
_DAPR_METHODS = dapr_pb2.DESCRIPTOR.services_by_name["Dapr"].methods_by_name


def _md(context: grpc.aio.ServicerContext, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return str(value)
    return ""


async def _abort(context: grpc.aio.ServicerContext, exc: DaprApiError) -> Any:
    await abort(context, exc)


@dataclass
class DaprApis:
    """The subsystems `DaprService` calls into (typed siblings, built by `Sidecar`)."""

    runtime: Runtime
    core: CoreSubsystem
    state: StateSubsystem
    pubsub: PubSubSubsystem
    bindings: BindingsSubsystem
    secrets: SecretsSubsystem
    jobs: JobsSubsystem
    invoke: InvokeSubsystem
    actors: ActorsSubsystem
    configuration: ConfigurationSubsystem
    lock: LockSubsystem


class DaprService:
    """Async servicer for the Dapr runtime API (`dapr_pb2_grpc.DaprServicer`'s methods)."""

    def __init__(self, apis: DaprApis) -> None:
        self.apis = apis
        self.state = apis.state
        self.pubsub = apis.pubsub
        self.bindings = apis.bindings
        self.secrets = apis.secrets
        self.jobs = apis.jobs
        self.invoke = apis.invoke
        self.actors = apis.actors
        self.core = apis.core
        self.configuration = apis.configuration
        self.lock = apis.lock

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        """Any other RPC of the Dapr service: UNIMPLEMENTED, naming the method."""
        if method not in _DAPR_METHODS:
            raise AttributeError(method)

        async def unimplemented(request: Any, context: Any) -> Any:
            await _unimplemented(method, context)

        unimplemented.__name__ = method
        return unimplemented

    # -- state --------------------------------------------------------------------------------
    def _item(self, raw: Any) -> StateItem:
        state = self.state
        etag = raw.etag.value if raw.HasField("etag") else None
        concurrency = _CONCURRENCY.get(raw.options.concurrency, "last-write")
        value = bytes(raw.value) if hasattr(raw, "value") else None
        return state.item(
            raw.key, value, etag, concurrency, dict(raw.metadata) if raw.metadata else {}
        )

    async def GetState(self, request: Any, context: Any) -> Any:
        try:
            stored = await self.state.get(request.store_name, request.key)
        except DaprApiError as exc:
            return await _abort(context, exc)
        if stored is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(
            data=stored.value,
            etag=stored.etag,
            metadata=self.state.response_metadata(stored),
        )

    async def GetBulkState(self, request: Any, context: Any) -> Any:
        try:
            found = await self.state.bulk_get(request.store_name, list(request.keys))
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
            items = [self._item(s) for s in request.states]
            await patiently(lambda: self.state.save(request.store_name, items))
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def DeleteState(self, request: Any, context: Any) -> Any:
        try:
            item = self._item(request)
            await patiently(lambda: self.state.delete(request.store_name, item))
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def DeleteBulkState(self, request: Any, context: Any) -> Any:
        try:
            ops = [("delete", self._item(s)) for s in request.states]
            await patiently(lambda: self.state.transact(request.store_name, ops))
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def ExecuteStateTransaction(self, request: Any, context: Any) -> Any:
        try:
            ops = [(op.operationType, self._item(op.request)) for op in request.operations]
            await patiently(lambda: self.state.transact(request.storeName, ops))
        except DaprApiError as exc:
            return await _abort(context, exc)
        return empty_pb2.Empty()

    async def QueryStateAlpha1(self, request: Any, context: Any) -> Any:
        try:
            result = await self.state.query(
                request.store_name, request.query, dict(request.metadata)
            )
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.QueryStateResponse(
            results=[
                api_v1.QueryStateItem(key=r.key, data=r.data, etag=r.etag) for r in result.results
            ],
            token=result.token,
        )

    # -- pub/sub ------------------------------------------------------------------------------
    async def PublishEvent(self, request: Any, context: Any) -> Any:
        try:
            await self.pubsub.publish(
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
            failed = await self.pubsub.bulk_publish(
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
        from .pubsub.stream import serve_stream

        async for response in serve_stream(self.pubsub, request_iterator, context):
            yield response

    # -- bindings, secrets, jobs --------------------------------------------------------------
    async def InvokeBinding(self, request: Any, context: Any) -> Any:
        try:
            data, meta = await self.bindings.invoke(
                request.name, request.operation, bytes(request.data), dict(request.metadata)
            )
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.InvokeBindingResponse(data=data, metadata=meta)

    async def GetSecret(self, request: Any, context: Any) -> Any:
        try:
            data = self.secrets.get(request.store_name, request.key)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.GetSecretResponse(data=data)

    async def GetBulkSecret(self, request: Any, context: Any) -> Any:
        try:
            data = self.secrets.bulk(request.store_name)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.GetBulkSecretResponse(
            data={k: api_v1.SecretResponse(secrets=v) for k, v in data.items()}
        )

    async def ScheduleJob(self, request: Any, context: Any) -> Any:
        try:
            self.jobs.schedule(request.job, request.overwrite)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.ScheduleJobResponse()

    async def GetJob(self, request: Any, context: Any) -> Any:
        try:
            return api_v1.GetJobResponse(job=self.jobs.get(request.name))
        except DaprApiError as exc:
            return await _abort(context, exc)

    async def DeleteJob(self, request: Any, context: Any) -> Any:
        try:
            self.jobs.delete(request.name)
        except DaprApiError as exc:
            return await _abort(context, exc)
        return api_v1.DeleteJobResponse()

    async def ListJobs(self, request: Any, context: Any) -> Any:
        return api_v1.ListJobsResponse(jobs=self.jobs.all())

    async def DeleteJobsByPrefix(self, request: Any, context: Any) -> Any:
        self.jobs.delete_by_prefix(request.name_prefix)
        return api_v1.DeleteJobsByPrefixResponse()

    ScheduleJobAlpha1 = ScheduleJob
    GetJobAlpha1 = GetJob
    DeleteJobAlpha1 = DeleteJob
    ListJobsAlpha1 = ListJobs
    DeleteJobsByPrefixAlpha1 = DeleteJobsByPrefix

    # -- metadata, shutdown -------------------------------------------------------------------
    async def GetMetadata(self, request: Any, context: Any) -> Any:
        doc = self.core.metadata_dict()
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
                type=api_v1.PubsubSubscriptionType.Value(sub.get("type") or "UNKNOWN"),
            )
            for rule in sub.get("rules") or []:
                item.rules.rules.add(match=rule["match"], path=rule["path"])
        for actor in doc.get("actors") or []:
            resp.active_actors_count.add(type=actor.get("type", ""), count=actor.get("count", 0))
        return resp

    async def SetMetadata(self, request: Any, context: Any) -> Any:
        self.core.extended[request.key] = request.value
        return empty_pb2.Empty()

    async def Shutdown(self, request: Any, context: Any) -> Any:
        log.warning("Shutdown requested over gRPC")
        self.apis.runtime.request_shutdown()
        return empty_pb2.Empty()

    # -- service invocation -----------------------------------------------------------------
    async def InvokeService(self, request: Any, context: Any) -> Any:
        try:
            return await self.invoke.invoke_grpc(request, context)
        except DaprApiError as exc:
            return await _abort(context, exc)

    # -- configuration (configuration/subsystem.py) and locks (lock/subsystem.py) ------------
    async def GetConfiguration(self, request: Any, context: Any) -> Any:
        try:
            return await self.configuration.grpc_get(request)
        except DaprApiError as exc:
            return await _abort(context, exc)

    async def SubscribeConfiguration(self, request: Any, context: Any) -> Any:
        try:
            async for response in self.configuration.grpc_subscribe(request):
                yield response
        except DaprApiError as exc:
            await _abort(context, exc)

    async def UnsubscribeConfiguration(self, request: Any, context: Any) -> Any:
        try:
            return await self.configuration.grpc_unsubscribe(request)
        except DaprApiError as exc:
            return await _abort(context, exc)

    GetConfigurationAlpha1 = GetConfiguration
    SubscribeConfigurationAlpha1 = SubscribeConfiguration
    UnsubscribeConfigurationAlpha1 = UnsubscribeConfiguration

    async def TryLockAlpha1(self, request: Any, context: Any) -> Any:
        try:
            return await self.lock.grpc_try_lock(request)
        except DaprApiError as exc:
            return await _abort(context, exc)

    async def UnlockAlpha1(self, request: Any, context: Any) -> Any:
        try:
            return await self.lock.grpc_unlock(request)
        except DaprApiError as exc:
            return await _abort(context, exc)

    # -- actors (actors/grpc_api.py) ----------------------------------------------------------
    async def InvokeActor(self, request: Any, context: Any) -> Any:
        return await self._actor_call(actors_grpc.invoke_actor(self.actors, request), context)

    async def GetActorState(self, request: Any, context: Any) -> Any:
        return await self._actor_call(actors_grpc.get_actor_state(self.actors, request), context)

    async def ExecuteActorStateTransaction(self, request: Any, context: Any) -> Any:
        call = actors_grpc.execute_actor_state_transaction(self.actors, request)
        return await self._actor_call(call, context)

    async def RegisterActorReminder(self, request: Any, context: Any) -> Any:
        call = actors_grpc.register_actor_reminder(self.actors, request)
        return await self._actor_call(call, context)

    async def UnregisterActorReminder(self, request: Any, context: Any) -> Any:
        call = actors_grpc.unregister_actor_reminder(self.actors, request)
        return await self._actor_call(call, context)

    async def GetActorReminder(self, request: Any, context: Any) -> Any:
        call = actors_grpc.get_actor_reminder(self.actors, request)
        return await self._actor_call(call, context)

    async def RegisterActorTimer(self, request: Any, context: Any) -> Any:
        call = actors_grpc.register_actor_timer(self.actors, request)
        return await self._actor_call(call, context)

    async def UnregisterActorTimer(self, request: Any, context: Any) -> Any:
        call = actors_grpc.unregister_actor_timer(self.actors, request)
        return await self._actor_call(call, context)

    async def _actor_call(self, call: Awaitable[Any], context: Any) -> Any:
        try:
            return await call
        except DaprApiError as exc:
            return await _abort(context, exc)


async def _unimplemented(method: str, context: Any) -> Any:
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} is not implemented by the funchost embedded sidecar",
    )


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

    def __init__(self, sidecar: Runtime, service: DaprService) -> None:
        super().__init__(sidecar)
        self.service = service

    def routes(self) -> list[BaseRoute]:
        async def shutdown(request: Request) -> Response:
            log.warning("Shutdown requested over HTTP")
            self.sidecar.request_shutdown()
            return Response(status_code=204)

        return [Route("/v1.0/shutdown", shutdown, methods=["POST", "GET"])]

    def add_grpc(self, server: grpc.aio.Server) -> None:
        add_servicer_generic(dapr_pb2_grpc.add_DaprServicer_to_server, self.service, server)
