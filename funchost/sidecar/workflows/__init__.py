"""The durable workflow engine of the embedded sidecar (`TaskHubSidecarService` + HTTP API).

Apps use it exactly as they use daprd: `WorkflowRuntime(host="127.0.0.1", port=<grpc port>)`
for the worker and `DaprWorkflowClient(...)` for start/get/raise/suspend/resume/terminate/purge;
curl users have `/v1.0/workflows/dapr/...`. Layout:

- `turn.py`: the turn processor (worker actions -> history events, messages, activities);
- `_runtime.py`: inboxes, one turn at a time per instance, activity dispatch, timers, recovery;
- `engine.py`: client operations; `backend.py`: the `wf_*` SQLite tables;
- `grpc_service.py` / `http_api.py`: the two APIs; `dispatcher.py`: connected worker streams.

Everything a turn changes is committed in one transaction before anything is dispatched, and
every inbox/activity row still present after a crash is work still owed, so a kill -9 at any
point resumes where it stopped. Time (workflowStarted, timers, retries) is the sidecar clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from starlette.routing import BaseRoute

from ..runtime_config import RuntimeConfig
from ..subsystem import Runtime, Subsystem
from .engine import Engine, WorkflowError
from .grpc_service import add_taskhub_service
from .http_api import WorkflowHttpApi
from .retention import RetentionPolicy

__all__ = ["Engine", "WorkflowError", "WorkflowsSubsystem"]


class WorkflowsSubsystem(Subsystem):
    """Serves Dapr workflows: the worker stream, the client API and the management HTTP API."""

    name = "workflows"

    def __init__(self, sidecar: Runtime, limits: RuntimeConfig | None = None) -> None:
        super().__init__(sidecar)
        self.engine = Engine(sidecar.store, sidecar.clock)
        self._retention: dict[str, str] | None = None
        if limits is not None:  # --config: spec.workflow
            self.engine.max_turns = limits.max_concurrent_workflows
            self.engine.max_activities = limits.max_concurrent_activities
            workflow = limits.spec.get("workflow") or {}
            self._retention = workflow.get("stateRetentionPolicy") if workflow else None
        self._tasks: list[asyncio.Task[None]] = []

    def routes(self) -> list[BaseRoute]:
        return WorkflowHttpApi(self.engine).routes()

    def add_grpc(self, server: grpc.aio.Server) -> None:
        add_taskhub_service(self.engine, server)

    async def start(self) -> None:
        self.engine.load()
        spec = self.sidecar.config.workflow_retention or self._retention
        policy = RetentionPolicy.from_env() if spec is None else RetentionPolicy.from_spec(spec)
        self._tasks = [
            self.sidecar.spawn(self.engine.run_timers()),
            self.sidecar.spawn(self.engine.run_watchdog()),
            self.sidecar.spawn(self.engine.run_retention(policy)),
        ]

    async def quiesce(self) -> None:
        """Fire no more workflow timers (the app's worker stops itself when it drains)."""
        await self.stop()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def busy(self) -> bool:
        return self.engine.busy()

    def metadata_info(self) -> dict[str, Any]:
        return self.engine.metadata()
