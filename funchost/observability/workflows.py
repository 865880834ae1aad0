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
import logging
from collections.abc import Callable, Generator
from typing import Any

from . import scope
from ._traceparent import new_trace
from ._tries import remember, tries
from .observer import Observer
from .propagation import (
    forget_workflow_trace,
    otel_parent,
    remember_workflow_trace,
    workflow_trace,
)

__all__ = ["observe_activity", "observe_workflow", "quiet_sdk_failure_lines"]


class _DropSdkFailureLines(logging.Filter):
    """The SDK's "Activity execution failed" line repeats the observed invocation's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Activity execution failed")


_SDK_FILTER = _DropSdkFailureLines()


def quiet_sdk_failure_lines(host: Any) -> None:
    """Log each failed activity try once: funchost's line (function, try, traceback), not also
    the SDK's (`WorkflowRuntime` logger). Kept when observability is off (then it is the only one).
    """
    logger = logging.getLogger("WorkflowRuntime")
    if _observer(host) is not None and _SDK_FILTER not in logger.filters:
        logger.addFilter(_SDK_FILTER)


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
        known = tries(ctx)
        observed = observer.invocation(
            name,
            "activity",
            traceparent=_parent(instance_id),
            instance_id=instance_id,
            attempt=known[0] if known else 1,
        )
        return observed, known

    if inspect.iscoroutinefunction(fn):

        async def run_async(ctx: Any, *args: Any) -> Any:
            observer = _observer(host)
            if observer is None:
                return await fn(ctx, *args)
            observed, known = scope_for(observer, ctx)
            with observed as inv:
                try:
                    return await fn(ctx, *args)
                except Exception as exc:
                    _failed(inv, exc, known)
                    raise

        return functools.update_wrapper(run_async, fn, updated=())

    def run(ctx: Any, *args: Any) -> Any:
        observer = _observer(host)
        if observer is None:
            return fn(ctx, *args)
        observed, known = scope_for(observer, ctx)
        with observed as inv:
            try:
                return fn(ctx, *args)
            except Exception as exc:
                _failed(inv, exc, known)
                raise

    return functools.update_wrapper(run, fn, updated=())


def _failed(inv: Any, exc: Exception, known: tuple[int, int] | None) -> None:
    """Outcome of a failed try: `retry` when the policy tries again, else `failed` (the last)."""
    if known is None:
        inv.fail(exc, "failed")  # no policy known here: the workflow gets the error
        return
    attempt, most = known
    inv.extra = {"max_attempts": most}
    inv.fail(exc, "retry" if attempt < most else "failed")


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
        bound = (name, "workflow", _parent(instance_id), None, None, instance_id)  # one per turn
        _inv, token = scope.enter(*bound)
        try:
            result = fn(ctx, *args)
        except Exception:
            _ended(ctx, name, instance_id, observer, failed=True)
            raise
        finally:
            scope.leave(token)
        if not inspect.isgenerator(result):
            _ended(ctx, name, instance_id, observer, failed=False)
            return result
        return _drive(result, ctx, name, bound, observer)

    return functools.update_wrapper(run, fn, updated=())


def _ended(
    ctx: Any, name: str, instance_id: str | None, observer: Observer, *, failed: bool
) -> None:
    """The orchestrator returned or raised: count it (not on replay) and, unless it continues
    as new (same instance, same trace), forget the instance's trace, so the map holds running
    instances only."""
    from dapr.ext.workflow._durabletask.internal import protos

    if not ctx.is_replaying:
        counter = (
            observer.metrics.workflow_failures if failed else observer.metrics.workflow_completions
        )
        counter.labels(name).inc()
    if getattr(ctx, "_completion_status", None) != protos.ORCHESTRATION_STATUS_CONTINUED_AS_NEW:
        forget_workflow_trace(instance_id)


def _drive(
    gen: Generator[Any, Any, Any],
    ctx: Any,
    name: str,
    bound: tuple[Any, ...],
    observer: Observer,
) -> Generator[Any, Any, Any]:
    """Delegate to `gen`, with the workflow bound to log lines while its code runs (`bound`:
    the `scope.enter` arguments, the same for every step of a turn)."""
    instance_id = bound[-1]
    value: Any = None
    error: BaseException | None = None
    while True:
        _inv, token = scope.enter(*bound)
        try:
            item = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            _ended(ctx, name, instance_id, observer, failed=False)
            return stop.value
        except Exception:
            _ended(ctx, name, instance_id, observer, failed=True)
            raise
        finally:
            scope.leave(token)
        remember(instance_id, item)  # the activity's log line says which try it is
        try:
            value, error = (yield item), None
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:  # a failed task is thrown into the orchestrator
            value, error = None, exc
