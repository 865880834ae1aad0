"""Per-app runtime state shared by the wiring and every FunctionContext."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost")


class Host:
    """One per app: settings, registry, plugins and lazily created Dapr clients."""

    def __init__(self, registry: Registry, settings: Settings, pm: pluggy.PluginManager) -> None:
        self.registry = registry
        self.settings = settings
        self.pm = pm
        self.log = log
        self.sidecar_ready: asyncio.Event | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.workflow_runtime: Any = None
        self._client: Any = None
        self._wf_client: Any = None
        self._ready: asyncio.Future[bool] | None = None

    def export_sdk_env(self) -> None:
        """Let the SDK pieces that read ``DAPR_*`` from the environment at call time (actor
        client, health probes) find the configured sidecar; never overrides what is set."""
        s = self.settings
        os.environ.setdefault("DAPR_HTTP_PORT", str(s.dapr_http_port))
        os.environ.setdefault("DAPR_GRPC_PORT", str(s.dapr_grpc_port))
        if s.dapr_api_token:
            os.environ.setdefault("DAPR_API_TOKEN", s.dapr_api_token)

    async def client(self) -> Any:
        """The app's async `dapr.aio.clients.DaprClient` (created on first use).

        The SDK constructor probes the sidecar with a blocking call, so we wait for the
        sidecar asynchronously first; the probe then answers at once.
        """
        if self._client is None:
            from dapr.aio.clients import DaprClient

            if not await self.ready():
                raise ConnectionError(
                    f"Dapr sidecar not healthy at {self.settings.dapr_http_endpoint}: start it "
                    "(funchost run, or dapr run) or set DAPR_HTTP_PORT / DAPR_GRPC_PORT"
                )
            if self._client is None:
                from funchost.observability.propagation import trace_interceptors

                self._client = DaprClient(
                    address=self.settings.dapr_grpc_address, interceptors=trace_interceptors()
                )
        return self._client

    @property
    def workflow_client(self) -> Any:
        """The async `DaprWorkflowClient` for the sidecar (created on first use)."""
        if self._wf_client is None:
            from funchost.observability.propagation import traced_workflow_client

            self._wf_client = traced_workflow_client(
                self.settings.dapr_host, str(self.settings.dapr_grpc_port)
            )
        return self._wf_client

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; it is cancelled on shutdown."""
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    async def ready(self) -> bool:
        """Wait (once, shared by all callers) until the sidecar is healthy."""
        done = self._ready is not None and self._ready.done()
        if self._ready is None or (done and (self._ready.cancelled() or not self._ready.result())):
            self._ready = asyncio.ensure_future(self.wait_for_sidecar())
        return bool(await asyncio.shield(self._ready))

    async def wait_for_sidecar(self, timeout: float | None = None) -> bool:
        """Poll ``/v1.0/healthz/outbound`` until the sidecar answers 2xx; False on timeout."""
        deadline = asyncio.get_running_loop().time() + (timeout or self.settings.sidecar_timeout)
        url = f"{self.settings.dapr_http_endpoint}/v1.0/healthz/outbound"
        headers = {}
        if self.settings.dapr_api_token:
            headers["dapr-api-token"] = self.settings.dapr_api_token
        # aiohttp, not httpx: the Dapr SDK's clients load it anyway, httpx's transport (httpcore,
        # and trio when installed) would add ~7 MB to a resting `funchost run`.
        import aiohttp

        per_try = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(timeout=per_try) as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with http.get(url, headers=headers) as resp:
                        status = resp.status
                    if 200 <= status < 300:
                        if self.sidecar_ready is None:
                            self.sidecar_ready = asyncio.Event()
                        self.sidecar_ready.set()
                        return True
                if asyncio.get_running_loop().time() >= deadline:
                    return False
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        """Close the clients (called on app shutdown)."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
        if self._wf_client is not None:
            close = getattr(self._wf_client, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    result = close()
                    if asyncio.iscoroutine(result):
                        await result
            self._wf_client = None
