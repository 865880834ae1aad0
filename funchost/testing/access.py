"""Small async helpers `LocalRuntime` hands to tests: state access and workflow management."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from funchost.testing.base import RuntimeView


def decode_value(raw: bytes) -> Any:
    """JSON-decode a stored value when it is JSON, else return the text (or bytes)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw


def encode_value(value: Any) -> tuple[bytes | str, str]:
    """Bytes and str go as they are; anything else as JSON."""
    if isinstance(value, bytes):
        return value, "application/octet-stream"
    if isinstance(value, str):
        return value, "text/plain"
    return json.dumps(value), "application/json"


class StateAccess:
    """get / save / delete on one state store, through the sidecar's state API (gRPC)."""

    def __init__(self, runtime: RuntimeView, store: str) -> None:
        self._rt = runtime
        self.store = store

    async def get(self, key: str, default: Any = None) -> Any:
        """The value under `key` (JSON-decoded when it is JSON), or `default` when absent."""
        raw, _ = await self.get_with_etag(key)
        return default if raw is None else decode_value(raw)

    async def get_with_etag(self, key: str) -> tuple[bytes | None, str | None]:
        """The raw bytes and etag under `key`; (None, None) when absent."""
        client = await self._rt.client()
        resp = await client.get_state(self.store, key)
        if not resp.data and not resp.etag:
            return None, None
        return bytes(resp.data), resp.etag or None

    async def save(self, key: str, value: Any, *, etag: str | None = None) -> None:
        """Save `value` (bytes/str as is, anything else as JSON)."""
        data, _ = encode_value(value)
        client = await self._rt.client()
        await client.save_state(self.store, key, data, etag=etag)

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        client = await self._rt.client()
        await client.delete_state(self.store, key, etag=etag)


class WorkflowTimeout(AssertionError):
    """A workflow did not finish in the real time a test allowed."""


class Workflows:
    """Start, wait for, signal and inspect workflows with the SDK's async DaprWorkflowClient."""

    def __init__(self, runtime: RuntimeView) -> None:
        self._rt = runtime
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._client_address: str | None = None

    @property
    def client(self) -> Any:
        """The SDK's `dapr.ext.workflow.aio.DaprWorkflowClient`, bound to this runtime."""
        loop = asyncio.get_running_loop()
        address = self._rt.grpc_address
        if self._client is None or self._client_loop is not loop or self._client_address != address:
            from dapr.ext.workflow.aio import DaprWorkflowClient

            host, _, port = address.rpartition(":")
            self._client = DaprWorkflowClient(host=host, port=port)
            self._client_loop, self._client_address = loop, address
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        inner = getattr(client, "_DaprWorkflowClient__obj", None)
        if inner is not None and hasattr(inner, "aclose"):
            with contextlib.suppress(Exception):  # the channel of a runtime that is gone
                await inner.aclose()

    async def start(
        self, workflow: Any, input: Any = None, *, instance_id: str | None = None
    ) -> str:
        """Schedule a workflow (function or name); returns its instance id."""
        return str(
            await self.client.schedule_new_workflow(workflow, input=input, instance_id=instance_id)
        )

    async def status(self, instance_id: str) -> Any:
        """The `WorkflowState` of an instance (None when unknown)."""
        return await self.client.get_workflow_state(instance_id, fetch_payloads=True)

    async def wait(self, instance_id: str, *, timeout: float = 30.0) -> Any:
        """Wait (real time) until the instance completes, fails or is terminated.

        With the virtual clock a workflow waiting on a timer never completes by itself: call
        `runtime.advance(...)` first. Raises `WorkflowTimeout` naming the current status.
        """
        try:
            state = await asyncio.wait_for(
                self.client.wait_for_workflow_completion(
                    instance_id, fetch_payloads=True, timeout_in_seconds=max(1, int(timeout))
                ),
                timeout + 5,
            )
        except TimeoutError:
            state = None
        if state is None or state.runtime_status.name in {"RUNNING", "PENDING", "SUSPENDED"}:
            current = await self.status(instance_id)
            status = current.runtime_status.name if current is not None else "UNKNOWN"
            hint = (
                " (waiting on a timer? advance the virtual clock with `await runtime.advance(...)`)"
                if self._rt.is_virtual
                else ""
            )
            raise WorkflowTimeout(
                f"workflow {instance_id!r} is still {status} "
                f"after {timeout:.0f}s of real time{hint}"
            )
        return state

    async def result(self, instance_id: str, *, timeout: float = 30.0) -> Any:
        """Wait for completion and return the JSON-decoded output; fail if it did not complete."""
        state = await self.wait(instance_id, timeout=timeout)
        if state.runtime_status.name != "COMPLETED":
            details = getattr(state, "failure_details", None)
            message = getattr(details, "message", None) or ""
            status = state.runtime_status.name
            raise AssertionError(f"workflow {instance_id!r} ended {status}: {message}")
        raw = state.serialized_output
        return json.loads(raw) if raw else None

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raise external event `name` on an instance."""
        await self.client.raise_workflow_event(instance_id, name, data=data)

    async def terminate(self, instance_id: str, output: Any = None) -> None:
        await self.client.terminate_workflow(instance_id, output=output)
