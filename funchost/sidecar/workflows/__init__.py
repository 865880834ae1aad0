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
import logging
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError
from ..http_api import api
from ..runtime_config import RuntimeConfig
from ..subsystem import Runtime, Subsystem
from .engine import Engine, WorkflowError
from .grpc_service import add_taskhub_service
from .http_api import WorkflowHttpApi
from .remote import DELIVER_PATH
from .retention import RetentionPolicy

__all__ = ["Engine", "WorkflowError", "WorkflowsSubsystem"]

log = logging.getLogger("funchost.sidecar.workflows")


class WorkflowsSubsystem(Subsystem):
    """Serves Dapr workflows: the worker stream, the client API and the management HTTP API."""

    name = "workflows"

    def __init__(self, sidecar: Runtime, limits: RuntimeConfig | None = None) -> None:
        super().__init__(sidecar)
        config = sidecar.config
        self.engine = Engine(
            sidecar.store,
            sidecar.clock,
            app_id=config.app_id,
            namespace=config.namespace or "default",
            registry_dir=config.registry_dir,
        )
        self._retention: dict[str, str] | None = None
        if limits is not None:  # --config: spec.workflow
            self.engine.max_turns = limits.max_concurrent_workflows
            self.engine.max_activities = limits.max_concurrent_activities
            workflow = limits.spec.get("workflow") or {}
            self._retention = workflow.get("stateRetentionPolicy") if workflow else None
        self._tasks: list[asyncio.Task[None]] = []

    def routes(self) -> list[BaseRoute]:
        deliver = Route(DELIVER_PATH, self._deliver, methods=["POST"])
        return [*WorkflowHttpApi(self.engine).routes(), deliver]

    @api
    async def _deliver(self, request: Request) -> Response:
        """Cross-app workflow messages from another app's sidecar, committed before the 200."""
        try:
            doc = await request.json()
            source, items = str(doc["source"]), list(doc["items"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DaprApiError(400, "ERR_MALFORMED_REQUEST", f"workflow delivery: {exc}") from None
        try:
            self.engine.accept_remote(source, items)
        except Exception as exc:  # nothing was committed: the sender retries
            log.exception("workflow delivery from app %r failed", source)
            raise DaprApiError(
                500, "ERR_WORKFLOW_DELIVERY", f"from app {source!r}: {exc}"
            ) from None
        return Response(status_code=200)

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
        await self.engine.outbox.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def busy(self) -> bool:
        return self.engine.busy()

    def metadata_info(self) -> dict[str, Any]:
        return self.engine.metadata()
