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
    runtime = WorkflowRuntime(
        host=s.dapr_host,
        port=str(s.dapr_grpc_port),
        logger_options=LoggerOptions(log_handler=logging.NullHandler()),
        **worker_limits(s).runtime_kwargs(),
    )
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
            await asyncio.to_thread(runtime.shutdown)
