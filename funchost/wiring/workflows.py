"""@workflow / @activity wiring: ONE `WorkflowRuntime` per app.

It starts in the background once the sidecar's ``/v1.0/healthz/outbound`` answers and is
shut down cleanly with the app. Functions are registered through thin wrappers, so the same
function can be registered in several apps of one process (tests) despite the SDK's
``_workflow_registered`` marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from funchost.plugins import hookimpl
from funchost.wiring._common import host_of

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host
    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.workflows")
_STOP_HEAD_START = 0.05  # seconds the SDK gets to flag its shutdown before its stream ends

# In-process sidecars by gRPC address (`funchost run`): a worker whose sidecar runs in this
# process reaches it through a client interceptor of the sidecar's instead of the network.
_LOCAL: dict[tuple[str, int], Any] = {}
_LOCAL_OF: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # runtime -> its


def register_local_sidecar(host: str, port: int, hub: Any) -> None:
    """Route the workflow worker of apps whose sidecar is ``host:port`` through `hub` (its
    ``interceptor()`` serves `TaskHubSidecarService` in this process; None: no longer)."""
    if hub is None:
        _LOCAL.pop((host, port), None)
    else:
        _LOCAL[(host, port)] = hub


def _fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        async def async_wrapper(*args: Any) -> Any:
            return await fn(*args)

        wrapper: Callable[..., Any] = async_wrapper
    else:

        def sync_wrapper(*args: Any) -> Any:
            return fn(*args)

        wrapper = sync_wrapper
    return functools.update_wrapper(wrapper, fn, updated=())


def build_runtime(host: Host) -> Any:
    """A `WorkflowRuntime` with every @workflow and @activity of the registry registered."""
    from dapr.ext.workflow import WorkflowRuntime
    from dapr.ext.workflow.logger import LoggerOptions

    from funchost.observability.workflows import (
        observe_activity,
        observe_workflow,
        quiet_sdk_failure_lines,
    )
    from funchost.wiring.workflow_limits import worker_limits

    s = host.settings
    quiet_sdk_failure_lines(host)  # each failed activity try is logged once, by the observer

    # The SDK gives its loggers a handler of their own; a NullHandler leaves them to propagate
    # to funchost's one root handler (structured, and printed once).
    hub = _LOCAL.get((s.dapr_host, s.dapr_grpc_port))
    local = hub.interceptor() if hub is not None else None
    runtime = WorkflowRuntime(
        host=s.dapr_host,
        port=str(s.dapr_grpc_port),
        logger_options=LoggerOptions(log_handler=logging.NullHandler()),
        interceptors=[local] if local is not None else None,
        **worker_limits(s).runtime_kwargs(),
    )
    if local is not None:
        _LOCAL_OF[runtime] = local  # for stop_runtime
    for wf in host.registry.workflows:
        runtime.register_workflow(observe_workflow(host, wf, _fresh(wf.target)), name=wf.name)
    for act in host.registry.activities:
        runtime.register_activity(observe_activity(host, act, _fresh(act.target)), name=act.name)
    return runtime


async def start_runtime(host: Host) -> Any:
    """Wait for the sidecar, then start the runtime (in a thread: `start()` blocks)."""
    if not await host.ready():
        log.error("sidecar not healthy: workflow runtime not started")
        return None
    runtime = build_runtime(host)
    await asyncio.to_thread(runtime.start)
    host.workflow_runtime = runtime
    log.info(
        "workflow runtime started: workflows %s, activities %s",
        [w.name for w in host.registry.workflows],
        [a.name for a in host.registry.activities],
    )
    return runtime


@hookimpl
def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Start the workflow runtime in the background when there is anything to run."""
    if settings.workflows and (registry.workflows or registry.activities):
        host = host_of(app)
        host.spawn(start_runtime(host))


@hookimpl
async def funchost_shutdown(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Stop the workflow runtime."""
    host = host_of(app)
    runtime, host.workflow_runtime = host.workflow_runtime, None
    if runtime is not None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(stop_runtime, runtime)


def stop_runtime(runtime: Any) -> None:
    """`runtime.shutdown()`; an in-process worker's stream ends as a closed channel's would.

    The SDK stops its stream reader by closing its channel, which cannot reach an in-process
    stream: it is cancelled once the SDK has begun stopping (were it cancelled before, the SDK
    would reconnect, over the network, just to stop).
    """
    local = _LOCAL_OF.pop(runtime, None)
    if local is None:
        runtime.shutdown()
        return
    stopping = threading.Thread(target=runtime.shutdown, name="workflow-worker-stop")
    stopping.start()
    stopping.join(_STOP_HEAD_START)
    local.close()
    stopping.join()
