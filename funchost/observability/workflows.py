"""Observe workflow orchestrators and activities registered with the `WorkflowRuntime`.

`observe_workflow(host, definition, fn)` counts starts / completions / failures (only on the
non-replaying execution, so replays do not count twice) and binds the instance to log lines.
`observe_activity(host, definition, fn)` runs each activity call as an observed invocation
(metrics, span, log fields) continuing the trace of the workflow: the OpenTelemetry parent the
SDK's worker opened from the request's `parentTraceContext`, else the trace that started the
instance in this process (`propagation.remember_workflow_trace`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any

from . import scope
from ._traceparent import new_trace
from .observer import Observer
from .propagation import otel_parent, remember_workflow_trace, workflow_trace

__all__ = ["observe_activity", "observe_workflow"]


def _observer(host: Any) -> Observer | None:
    observer = getattr(host, "observer", None)
    return observer if observer is not None and observer.enabled else None


def _parent(instance_id: str | None) -> str | None:
    trace = otel_parent() or workflow_trace(instance_id)
    if trace is None and instance_id:
        # Started without trace context: one trace for the whole instance (in this process).
        trace = new_trace()
        remember_workflow_trace(instance_id, trace)
    return trace.traceparent if trace is not None else None


def observe_activity(host: Any, definition: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (sync or async, called as `fn(ctx, *input)`) wrapped in an observed invocation."""
    name = definition.name

    def scope_for(observer: Observer, ctx: Any) -> Any:
        instance_id = getattr(ctx, "workflow_id", None)
        return observer.invocation(
            name,
            "activity",
            traceparent=_parent(instance_id),
            instance_id=instance_id,
            attempt=1,
        )

    if inspect.iscoroutinefunction(fn):

        async def run_async(ctx: Any, *args: Any) -> Any:
            observer = _observer(host)
            if observer is None:
                return await fn(ctx, *args)
            with scope_for(observer, ctx):
                return await fn(ctx, *args)

        return functools.update_wrapper(run_async, fn, updated=())

    def run(ctx: Any, *args: Any) -> Any:
        observer = _observer(host)
        if observer is None:
            return fn(ctx, *args)
        with scope_for(observer, ctx):
            return fn(ctx, *args)

    return functools.update_wrapper(run, fn, updated=())


def observe_workflow(host: Any, definition: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (an orchestrator generator function) with start / completion / failure counts."""
    name = definition.name

    def run(ctx: Any, *args: Any) -> Any:
        observer = _observer(host)
        if observer is None:
            return fn(ctx, *args)
        instance_id = getattr(ctx, "instance_id", None)
        if not ctx.is_replaying:
            observer.metrics.workflow_starts.labels(name).inc()
        try:
            with _bound(name, instance_id):
                result = fn(ctx, *args)
        except Exception:
            if not ctx.is_replaying:
                observer.metrics.workflow_failures.labels(name).inc()
            raise
        if not inspect.isgenerator(result):
            if not ctx.is_replaying:
                observer.metrics.workflow_completions.labels(name).inc()
            return result
        return _drive(result, ctx, name, instance_id, observer)

    return functools.update_wrapper(run, fn, updated=())


def _bound(name: str, instance_id: str | None) -> Any:
    return scope.invocation(
        name, "workflow", traceparent=_parent(instance_id), instance_id=instance_id
    )


def _drive(
    gen: Generator[Any, Any, Any], ctx: Any, name: str, instance_id: str | None, observer: Observer
) -> Generator[Any, Any, Any]:
    """Delegate to `gen`, with the workflow bound to log lines while its code runs."""
    value: Any = None
    error: BaseException | None = None
    while True:
        with _bound(name, instance_id):
            try:
                item = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                if not ctx.is_replaying:
                    observer.metrics.workflow_completions.labels(name).inc()
                return stop.value
            except Exception:
                if not ctx.is_replaying:
                    observer.metrics.workflow_failures.labels(name).inc()
                raise
        try:
            value, error = (yield item), None
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:  # a failed task is thrown into the orchestrator
            value, error = None, exc
