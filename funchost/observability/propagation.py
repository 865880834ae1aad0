"""Carry the running invocation's W3C trace context into outgoing Dapr calls.

- gRPC (the SDK's `DaprClient`: publish, bindings, state...): `trace_interceptors()` adds
  `traceparent` / `tracestate` call metadata, which daprd (and the embedded sidecar) turn into
  the published CloudEvent's trace fields, exactly as for any traced gRPC caller.
- HTTP (actor proxies, service invocation): `trace_headers()` is a `headers_callback`;
  `traced_actor_proxy()` is an SDK `ActorProxy` using it.
- Workflows: `traced_workflow_client()` sends `traceparent` with StartInstance; the sidecar
  hands it to each activity as `parentTraceContext`. `remember_workflow_trace(instance_id)`
  notes the trace that started an instance, so its activities (run in this process) continue
  it when the sidecar sends no `parentTraceContext`; `workflow_trace(instance_id)` reads it, and
  `forget_workflow_trace(instance_id)` drops it once the instance ended.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import grpc

from ._traceparent import TraceContext, parse_traceparent
from .scope import current_trace

__all__ = [
    "forget_workflow_trace",
    "otel_parent",
    "remember_workflow_trace",
    "trace_headers",
    "trace_interceptors",
    "traced_actor_proxy",
    "traced_workflow_client",
    "workflow_trace",
]


def trace_headers() -> dict[str, str]:
    """`traceparent` (+ `tracestate`) for an outgoing call of the running invocation, or {}."""
    trace = current_trace()
    return trace.child().headers() if trace is not None else {}


def _with_trace(details: Any) -> Any:
    headers = trace_headers()
    if not headers:
        return details
    metadata = [(k, v) for k, v in (details.metadata or ()) if k not in headers]
    metadata.extend(headers.items())
    return details._replace(metadata=metadata)


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_with_trace(client_call_details), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_with_trace(client_call_details), request)


def trace_interceptors() -> list[Any]:
    """grpc.aio client interceptors for `dapr.aio.clients.DaprClient(interceptors=...)`."""
    return [_UnaryUnary(), _UnaryStream()]


def traced_workflow_client(host: str, port: str) -> Any:
    """The SDK's async `DaprWorkflowClient` whose calls carry the running invocation's
    `traceparent` metadata: the sidecar (daprd or the embedded one) records it on the started
    instance and hands it to every activity as `parentTraceContext`."""
    from dapr.ext.workflow.aio import DaprWorkflowClient

    client = DaprWorkflowClient(host=host, port=port)
    # The SDK builds its channel on first use from these interceptors and offers no argument
    # for more: add ours before that.
    inner = getattr(client, "_DaprWorkflowClient__obj", None)
    if inner is not None and getattr(inner, "_stub", None) is None:
        inner._interceptors = [*(inner._interceptors or ()), *trace_interceptors()]
    return client


_WORKFLOW_TRACES: OrderedDict[str, TraceContext] = OrderedDict()
_LOCK = threading.Lock()
_MAX = 10_000


def remember_workflow_trace(instance_id: str, trace: TraceContext | None = None) -> None:
    """Note the trace (default: the running invocation's) that started workflow `instance_id`."""
    trace = trace or current_trace()
    if trace is None or not instance_id:
        return
    with _LOCK:
        _WORKFLOW_TRACES[instance_id] = trace
        _WORKFLOW_TRACES.move_to_end(instance_id)
        while len(_WORKFLOW_TRACES) > _MAX:
            _WORKFLOW_TRACES.popitem(last=False)


def forget_workflow_trace(instance_id: str | None) -> None:
    """Drop what `remember_workflow_trace` noted for `instance_id` (the instance ended)."""
    if instance_id:
        with _LOCK:
            _WORKFLOW_TRACES.pop(instance_id, None)


def workflow_trace(instance_id: str | None) -> TraceContext | None:
    """The trace that started `instance_id` in this process, if known."""
    if not instance_id:
        return None
    with _LOCK:
        return _WORKFLOW_TRACES.get(instance_id)


def otel_parent() -> TraceContext | None:
    """The current OpenTelemetry span context as a TraceContext (None without a valid one).

    The SDK's workflow worker opens a span from the activity request's `parentTraceContext`.
    """
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return parse_traceparent(
        f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}",
        ctx.trace_state.to_header() if ctx.trace_state else None,
    )


_ACTOR_CLIENT: Any = None


def traced_actor_proxy(actor_type: str, actor_id: str, interface: Any) -> Any:
    """An SDK `ActorProxy` whose calls carry the running invocation's `traceparent` header."""
    global _ACTOR_CLIENT
    from dapr.actor import ActorId, ActorProxy
    from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient

    from funchost.wiring.actors import serializer_for

    serializer = serializer_for(actor_type)  # the actor type's @actor serializer
    if _ACTOR_CLIENT is None:
        _ACTOR_CLIENT = DaprActorHttpClient(serializer, headers_callback=trace_headers)
    return ActorProxy(_ACTOR_CLIENT, actor_type, ActorId(actor_id), interface, serializer)
