"""Service invocation: `/v1.0/invoke/<app-id>/method/<method>` (and the `dapr-app-id` header
forms) and gRPC `InvokeService`, to this sidecar's app or to another app's sidecar.

As daprd: the own app id (in the own namespace) goes straight to the local app; another id is
looked up in the local name registry (`resolution.py`) and sent to that app's sidecar, which hands
it to its app (`/funchost/internal/invoke/...`, the stand-in for daprd's internal `CallLocal`).
Verb, method path (as sent, percent-encoding kept), query string, headers, content type, body and
the response status, headers and body pass through unchanged. The Resiliency policy of the target
app id applies (`invocation/policy.py`). Errors are daprd's ERR_DIRECT_INVOKE (HTTP 500, gRPC
INTERNAL) naming the id: an unknown id, an unreachable app, an open circuit breaker, a timeout.
"""

from __future__ import annotations

import asyncio
import http
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import grpc
from dapr.proto.common.v1 import common_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError
from .app_channel import AppResponse, AppUnavailable
from .http_api import api
from .invocation import headers as hdr
from .invocation.policy import AppPolicies, AppPolicy
from .invocation.remote import INTERNAL_PREFIX, RemoteSidecars
from .invocation.targets import direct_invoke_error, raw_method, split_target
from .resolution import DEFAULT_NAMESPACE, registry_dir
from .subsystem import Runtime, Subsystem

if TYPE_CHECKING:
    from .components import ResourcesSubsystem

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"]
_GRPC_SKIP = ("user-agent", "grpc-", ":", "dapr-api-token", "content-type")

# daprd's CodeFromHTTPStatus (pkg/messaging/v1/util.go): HTTP app -> gRPC caller
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INTERNAL,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.UNAVAILABLE,
    500: grpc.StatusCode.UNKNOWN,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}

Attempt = Callable[[], Awaitable[AppResponse]]


class InvokeSubsystem(Subsystem):
    """Service invocation to the local app or, through the name registry, to another app."""

    name = "invoke"

    def __init__(self, sidecar: Runtime, resources: ResourcesSubsystem | None = None) -> None:
        super().__init__(sidecar)
        specs = resources.resources.resiliency if resources is not None else []
        self.policies = AppPolicies(specs)
        self.remote = RemoteSidecars(sidecar.config.registry_dir)

    @property
    def namespace(self) -> str:
        return self.sidecar.config.namespace or DEFAULT_NAMESPACE

    def _check_healthy(self, target: str) -> None:
        """daprd with `--enable-app-health-check`: no call reaches an app that is not ready."""
        if self.sidecar.config.enable_app_health_check and not self.sidecar.app.ready.is_set():
            from .app_channel.health import APP_UNHEALTHY

            raise DaprApiError(
                500,
                "ERR_DIRECT_INVOKE",
                f"failed to invoke, id: {target}, err: {APP_UNHEALTHY}",
                grpc.StatusCode.INTERNAL,
            )

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/v1.0/invoke/{app_id}/method/{method:path}", self._http_invoke, methods=_METHODS
            ),
        ]

    async def stop(self) -> None:
        await self.remote.close()

    # -- entry points -------------------------------------------------------------------------
    @api
    async def _http_invoke(self, request: Request) -> Response:
        found = raw_method(request.scope)
        target, method = found or (request.path_params["app_id"], request.path_params["method"])
        resp = await self.invoke(
            target,
            request.method,
            method,
            request.url.query,
            await request.body(),
            request.headers.items(),
        )
        return Response(resp.body, status_code=resp.status, headers=hdr.from_app(resp.headers))

    def wrap_asgi(self, app: Any) -> Any:
        """ASGI in front of the router: a call from another app's sidecar
        (`/funchost/internal/invoke/<method>`, caller identity already stamped) goes straight to
        this sidecar's app, skipping route matching and request/response objects on the
        cross-app hot path."""

        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"].startswith(INTERNAL_PREFIX):
                await self._asgi_internal(scope, receive, send)
            else:
                await app(scope, receive, send)

        return asgi

    async def _asgi_internal(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            resp = await self._local(
                scope["method"],
                raw[len(INTERNAL_PREFIX) :],
                scope.get("query_string", b"").decode("latin-1"),
                b"".join(chunks),
                hdr.to_app((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]),
                self.sidecar.config.app_id,
            )
            status, headers, body = resp.status, hdr.from_app(resp.headers), resp.body
            if resp.grpc_code not in (None, grpc.StatusCode.OK):  # a gRPC app's own status
                headers[GRPC_STATUS_HEADER] = (
                    f"{resp.grpc_code.value[0]} {quote(resp.grpc_message)}"
                )
        except DaprApiError as exc:
            status, body = exc.http_status, json.dumps(exc.to_json()).encode()
            headers = {"content-type": "application/json"}
        out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    async def invoke_grpc(self, request: Any, context: Any) -> Any:
        """gRPC InvokeService: verb and query string from `http_extension`, metadata as headers."""
        msg = request.message
        app_id, namespace = split_target(request.id, self.namespace)
        own = app_id == self.sidecar.config.app_id and namespace == self.namespace
        if own and self.sidecar.app.protocol == "grpc":
            return await self._grpc_to_grpc(request.id, msg, context)
        verb_value = msg.http_extension.verb if msg.HasField("http_extension") else 0
        verb = common_pb2.HTTPExtension.Verb.Name(verb_value) if verb_value else "POST"
        headers = [
            (str(k), str(v))
            for k, v in context.invocation_metadata() or ()
            if not k.endswith("-bin") and not str(k).startswith(_GRPC_SKIP)
        ]
        if msg.content_type:
            headers.append(("content-type", msg.content_type))
        resp = await self.invoke(
            request.id,
            verb,
            msg.method,
            msg.http_extension.querystring,
            bytes(msg.data.value),
            headers,
        )
        if resp.grpc_code not in (None, grpc.StatusCode.OK):  # another app's gRPC app
            await context.abort(resp.grpc_code, resp.grpc_message)
        if not 200 <= resp.status <= 399:
            await context.send_initial_metadata((("dapr-http-status", str(resp.status)),))
            await context.abort_with_status(_http_error_status(resp))
        out = common_pb2.InvokeResponse(
            content_type=resp.headers.get("Content-Type") or resp.headers.get("content-type") or ""
        )
        out.data.value = resp.body
        return out

    async def _grpc_to_grpc(self, target: str, msg: Any, context: Any) -> Any:
        """gRPC caller -> own gRPC app: the InvokeRequest and the app's status pass through
        (under the app id's Resiliency policy, health-gated like every local call)."""
        from .app_channel.grpc_wire import invoke_metadata

        self._check_healthy(target)
        caller = [(str(k), str(v)) for k, v in context.invocation_metadata() or () if ":" not in k]
        own = self.sidecar.config.app_id
        metadata = invoke_metadata(hdr.outbound(caller, own, self.namespace, own))

        async def local() -> AppResponse:
            return await self.sidecar.app.invoke(msg, metadata)  # type: ignore[attr-defined,no-any-return]

        resp = await self._run(target, self.policies.for_app(own), local, remote=False)
        if resp.grpc_code not in (None, grpc.StatusCode.OK):
            await context.abort(resp.grpc_code, resp.grpc_message)
        out = common_pb2.InvokeResponse(content_type=resp.headers.get("Content-Type", ""))
        out.data.type_url = resp.type_url
        out.data.value = resp.body
        if resp.type_url:
            out.content_type = ""
        return out

    # -- the call -----------------------------------------------------------------------------
    async def invoke(
        self,
        target: str,
        verb: str,
        method: str,
        query: str,
        body: bytes,
        headers: Iterable[tuple[str, str]],
    ) -> AppResponse:
        """Invoke `method` on app `target` (`<app-id>[.<namespace>]`) under its policy."""
        app_id, namespace = split_target(target, self.namespace)
        own = self.sidecar.config.app_id
        out = hdr.outbound(headers, own, self.namespace, app_id)
        policy = self.policies.for_app(app_id)
        if app_id == own and namespace == self.namespace:

            async def local() -> AppResponse:
                return await self._local(verb, method, query, body, out, target)

            return await self._run(target, policy, local, remote=False)

        async def remote() -> AppResponse:
            address = await self.remote.find(app_id, namespace)
            if address is None:
                raise _NotFound(
                    f"couldn't find service: {app_id} (no sidecar on this machine registered "
                    f"app id {app_id!r} in namespace {namespace!r}, registry {self._dir()}: "
                    f"start it with `funchost run` or `funchost sidecar --app-id {app_id}`)"
                )
            try:
                return _grpc_status_of(
                    await self.remote.send(address, verb, method, query, body, out, policy.timeout)
                )
            except AppUnavailable:
                self.remote.forget(app_id, namespace)
                raise

        return await self._run(target, policy, remote, remote=True)

    def _dir(self) -> str:
        return str(self.sidecar.config.registry_dir or registry_dir())

    async def _local(
        self,
        verb: str,
        method: str,
        query: str,
        body: bytes,
        headers: dict[str, str],
        target: str,
    ) -> AppResponse:
        self._check_healthy(target)
        path = "/" + method.lstrip("/")
        try:
            if verb == "HEAD":  # the lean pool's parser would wait for a body never sent
                return await self.sidecar.app.request(
                    verb, path, body=body, headers=headers, params=query or None
                )
            return await self.sidecar.app.fast_request(
                verb, f"{path}?{query}" if query else path, body, headers
            )
        except AppUnavailable as exc:
            raise direct_invoke_error(target, str(exc)) from None

    async def _run(
        self, target: str, policy: AppPolicy, attempt: Attempt, remote: bool
    ) -> AppResponse:
        """Run `attempt` under the target's retry, timeout and circuit breaker.

        Real time, not the sidecar's clock: a caller is waiting on this very request, and a
        virtual clock (tests) would leave it hanging between attempts.
        """
        retries = 0
        while True:
            breaker = policy.breaker
            if breaker is not None and not breaker.allow(time.monotonic()):
                raise direct_invoke_error(target, "circuit breaker is open")
            resp: AppResponse | None = None
            transport = False
            failure: DaprApiError | None = None
            try:
                if policy.timeout is not None:
                    resp = await asyncio.wait_for(attempt(), policy.timeout)
                else:
                    resp = await attempt()
                err = ""
            except TimeoutError:
                err = "context deadline exceeded"
            except _NotFound as exc:
                err = str(exc)
            except AppUnavailable as exc:
                err, transport = str(exc), True
            except DaprApiError as exc:  # the local app could not be reached
                failure, err = exc, exc.message
            ok = resp is not None and not policy.failed(resp.status)
            if breaker is not None:
                breaker.record(ok, time.monotonic())
            if ok and resp is not None:
                return resp
            if resp is not None:
                retry = policy.retries_status(resp.status)
            else:
                retry = policy.retry_responses or (transport and remote)
            if not retry or not policy.retry.allows(retries):
                if resp is not None:
                    return resp  # the app's own failed answer goes back as it is
                raise failure or direct_invoke_error(target, err)
            retries += 1
            await asyncio.sleep(policy.retry.delay(retries))


#: how a target sidecar tells the caller's sidecar its gRPC app's status ("<code> <message>"),
#: so a gRPC caller gets the app's own code; never passed on to the caller
GRPC_STATUS_HEADER = "funchost-app-grpc-status"
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _grpc_status_of(resp: AppResponse) -> AppResponse:
    """Read (and drop) the target sidecar's gRPC-status header into `resp.grpc_code`."""
    headers = dict(resp.headers)
    raw = next((headers.pop(k) for k in list(headers) if k.lower() == GRPC_STATUS_HEADER), None)
    if raw is None:
        return resp
    number, _, message = raw.partition(" ")
    resp.headers = headers
    resp.grpc_code = _CODES.get(int(number) if number.isdigit() else -1, grpc.StatusCode.UNKNOWN)
    resp.grpc_message = unquote(message)
    return resp


def _http_error_status(resp: AppResponse) -> Any:
    """daprd's ErrorFromHTTPResponseCode: the gRPC code for the HTTP status, the status text as
    message, and an ErrorInfo (domain dapr.io) with `http.code` and `http.error_message`."""
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2, status_pb2
    from grpc_status import rpc_status

    try:
        text = http.HTTPStatus(resp.status).phrase
    except ValueError:
        text = str(resp.status)
    code = _HTTP_TO_GRPC.get(resp.status, grpc.StatusCode.UNKNOWN)
    info = error_details_pb2.ErrorInfo(
        reason=text,
        domain="dapr.io",
        metadata={
            "http.code": str(resp.status),
            "http.error_message": resp.body.decode("utf-8", "replace")[:63],
        },
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    return rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=text, details=[detail])
    )


class _NotFound(Exception):
    """The target app id is not registered (or its entry is stale)."""
