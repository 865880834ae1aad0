"""`FunctionContext`: what a function may ask for (state, publish, bindings, secrets, ...).

A handler gets it by declaring a parameter named ``ctx`` (or ``context``) or annotated
``FunctionContext``. Every Dapr call goes through the app's one async
`dapr.aio.clients.DaprClient`, created lazily and closed on shutdown.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from funchost.errors import FunchostError

if TYPE_CHECKING:
    from funchost._host import Host
    from funchost.triggers import Definition

__all__ = ["EtagMismatch", "FunctionContext", "StateEntry", "StateQueryPage"]

_EMPTY: Mapping[str, str] = {}


class EtagMismatch(FunchostError):
    """A state write or delete carried an etag that is no longer current (someone else wrote)."""


class StateEntry:
    """A state value with its etag (``None`` value and etag when the key is absent)."""

    __slots__ = ("etag", "key", "value")

    def __init__(self, key: str, value: Any, etag: str | None) -> None:
        self.key = key
        self.value = value
        self.etag = etag

    def __repr__(self) -> str:
        return f"StateEntry(key={self.key!r}, value={self.value!r}, etag={self.etag!r})"


class StateQueryPage:
    """One page of a state query: the matching entries and the next page's token (or None)."""

    __slots__ = ("results", "token")

    def __init__(self, results: list[StateEntry], token: str | None) -> None:
        self.results = results
        self.token = token

    def __repr__(self) -> str:
        return f"StateQueryPage(results={self.results!r}, token={self.token!r})"


def _encode(value: Any) -> bytes | str:
    if isinstance(value, bytes | str):
        return value
    from pydantic_core import to_json

    return to_json(value)


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data


def _is_aborted(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what it wraps: the SDK re-raises gRPC errors) is ABORTED."""
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "code", None)
        if callable(code):
            try:
                if getattr(code(), "name", "") == "ABORTED":
                    return True
            except Exception:
                pass
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class FunctionContext:
    """Per-call context. Attributes: ``event`` (CloudEvent dict or None), ``data`` (the
    payload before validation), ``metadata`` (delivery headers / binding metadata),
    ``definition`` (the function's definition), ``request`` (the HTTP request, when any),
    ``path_params`` (for ``@invoke``)."""

    __slots__ = (
        "_logger",
        "data",
        "definition",
        "event",
        "host",
        "metadata",
        "path_params",
        "request",
    )

    def __init__(
        self,
        host: Host,
        definition: Definition | None = None,
        *,
        event: dict[str, Any] | None = None,
        data: Any = None,
        metadata: Mapping[str, str] | None = None,
        request: Any = None,
        path_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.definition = definition
        self.event = event
        self.data = data
        self.metadata = metadata if metadata is not None else _EMPTY
        self.request = request
        self.path_params = path_params if path_params is not None else _EMPTY
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

    # -- identity -----------------------------------------------------------------------
    @property
    def event_id(self) -> str | None:
        """The CloudEvent id (or the bulk entry id), when the call carries an event."""
        return self.event.get("id") if self.event else None

    @property
    def trace_id(self) -> str | None:
        """The W3C ``traceparent`` of the event or request, when any."""
        if self.event:
            value = self.event.get("traceparent") or self.event.get("traceid")
            if value:
                return str(value)
        return self.metadata.get("traceparent") if self.metadata else None

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry ``function``, ``event_id`` and ``trace_id``."""
        if self._logger is None:
            name = self.definition.name if self.definition else "-"
            extra = {"function": name, "event_id": self.event_id, "trace_id": self.trace_id}
            self._logger = logging.LoggerAdapter(logging.getLogger(f"funchost.fn.{name}"), extra)
        return self._logger

    # -- state ----------------------------------------------------------------------------
    async def get_state(self, key: str, store: str | None = None) -> Any:
        """The JSON-decoded value of ``key`` (bytes when not JSON; None when absent)."""
        return (await self.get_state_entry(key, store)).value

    async def get_state_entry(self, key: str, store: str | None = None) -> StateEntry:
        """The value of ``key`` with its etag, for optimistic concurrency."""
        client = await self.host.client()
        resp = await client.get_state(store or self.host.settings.state_store, key)
        return StateEntry(key, _decode(resp.data), resp.etag or None)

    async def save_state(
        self,
        key: str,
        value: Any,
        *,
        etag: str | None = None,
        store: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Save ``value`` (JSON-encoded unless bytes/str). With ``etag``, the write is
        first-write-wins and raises `EtagMismatch` when the key changed meanwhile."""
        from dapr.clients.grpc._state import Concurrency, StateOptions

        client = await self.host.client()
        options = StateOptions(concurrency=Concurrency.first_write) if etag else None
        meta = dict(metadata or {})
        if not isinstance(value, bytes | str):  # JSON: queryable on state.postgresql
            meta.setdefault("contentType", "application/json")
        try:
            await client.save_state(
                store or self.host.settings.state_store,
                key,
                _encode(value),
                etag=etag,
                options=options,
                state_metadata=meta,
            )
        except Exception as exc:
            if _is_aborted(exc):
                raise EtagMismatch(f"state key '{key}' changed since etag {etag}") from exc
            raise

    async def delete_state(
        self, key: str, *, etag: str | None = None, store: str | None = None
    ) -> None:
        """Delete ``key``; with ``etag``, raise `EtagMismatch` when it changed meanwhile."""
        client = await self.host.client()
        try:
            await client.delete_state(store or self.host.settings.state_store, key, etag=etag)
        except Exception as exc:
            if _is_aborted(exc):
                raise EtagMismatch(f"state key '{key}' changed since etag {etag}") from exc
            raise

    async def query_state(
        self,
        query: Mapping[str, Any] | str,
        *,
        store: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> StateQueryPage:
        """Run a Dapr state query (``{"filter": ..., "sort": [...], "page": {...}}``) on a store
        that supports it (state.postgresql); values come back JSON-decoded. Stores that cannot
        query (state.sqlite, state.redis without RedisJSON) fail as under daprd:
        ERR_STATE_STORE_NOT_SUPPORTED."""
        import warnings

        client = await self.host.client()
        text = query if isinstance(query, str) else json.dumps(query)
        with warnings.catch_warnings():  # the SDK warns that the query API is alpha
            warnings.simplefilter("ignore", UserWarning)
            resp = await client.query_state(
                store or self.host.settings.state_store, text, states_metadata=dict(metadata or {})
            )
        entries = [StateEntry(r.key, _decode(r.value), r.etag or None) for r in resp.results]
        return StateQueryPage(entries, resp.token or None)

    # -- messaging --------------------------------------------------------------------------
    async def publish(
        self,
        pubsub: str | None,
        topic: str,
        data: Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Publish ``data`` (JSON-encoded unless bytes/str) to ``topic``."""
        client = await self.host.client()
        if content_type is None:
            content_type = (
                "application/octet-stream"
                if isinstance(data, bytes)
                else "text/plain"
                if isinstance(data, str)
                else "application/json"
            )
        await client.publish_event(
            pubsub or self.host.settings.pubsub,
            topic,
            _encode(data),
            publish_metadata=dict(metadata or {}),
            data_content_type=content_type,
        )

    async def invoke_binding(
        self,
        name: str,
        operation: str,
        data: Any = b"",
        metadata: Mapping[str, str] | None = None,
    ) -> Any:
        """Invoke an output binding; returns the JSON-decoded response data (or bytes)."""
        client = await self.host.client()
        resp = await client.invoke_binding(
            name, operation, _encode(data) if data != b"" else b"", dict(metadata or {})
        )
        return _decode(resp.data)

    async def invoke_method(
        self,
        app_id: str,
        method: str,
        data: Any = b"",
        *,
        http_verb: str = "POST",
        content_type: str | None = "application/json",
        querystring: Mapping[str, str] | None = None,
    ) -> Any:
        """Call ``method`` of app ``app_id`` (``<app-id>.<namespace>`` too) by service
        invocation; returns the JSON-decoded answer (or bytes). A non-2xx answer raises the
        SDK's error (`DaprHttpError`, its ``status_code`` the app's)."""
        client = await self.host.client()
        resp = await client.invoke_method(
            app_id,
            method,
            _encode(data) if data != b"" else b"",
            content_type=content_type if data != b"" else None,
            http_verb=http_verb,
            http_querystring=tuple((querystring or {}).items()) or None,
        )
        return _decode(resp.data)

    async def get_secret(self, store: str, key: str) -> dict[str, str]:
        """The secret ``key`` of the secret store ``store`` (a dict of values)."""
        client = await self.host.client()
        resp = await client.get_secret(store, key)
        return dict(resp.secret)

    # -- configuration and locks ------------------------------------------------------------
    async def get_configuration(
        self, store: str, keys: list[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Items of configuration store ``store`` by key (each has ``value``, ``version``,
        ``metadata``); missing keys are left out, no keys means every item."""
        client = await self.host.client()
        resp = await client.get_configuration(store, list(keys), dict(metadata or {}))
        return dict(resp.items)

    def lock(
        self,
        store: str,
        resource: str,
        *,
        expiry: int,
        wait: float = 0.0,
        owner: str | None = None,
    ) -> Any:
        """``async with ctx.lock(store, resource, expiry=30):`` a distributed lock held for at
        most ``expiry`` seconds; raises `funchost.LockNotAcquired` when another owner holds it
        (after retrying for up to ``wait`` seconds)."""
        from funchost.locks import DistributedLock

        return DistributedLock(self.host, store, resource, expiry=expiry, wait=wait, owner=owner)

    # -- workflows and actors ---------------------------------------------------------------
    @property
    def workflows(self) -> Any:
        """The async `DaprWorkflowClient`: ``schedule_new_workflow``, ``get_workflow_state``,
        ``raise_workflow_event``, ``terminate_workflow``, ``wait_for_workflow_completion``."""
        return self.host.workflow_client

    async def start_workflow(
        self, workflow: Any, input: Any = None, *, instance_id: str | None = None
    ) -> str:
        """Start a workflow (function or name); returns the instance id."""
        from funchost.observability.propagation import remember_workflow_trace

        name = workflow if isinstance(workflow, str) else _workflow_name(workflow)
        instance_id = instance_id or uuid.uuid4().hex
        remember_workflow_trace(instance_id)  # its activities continue the caller's trace
        return str(
            await self.workflows.schedule_new_workflow(name, input=input, instance_id=instance_id)
        )

    def actor(self, actor_type: Any, actor_id: str, interface: Any = None) -> Any:
        """An `ActorProxy` to ``actor_type`` (a name or an @actor class) with ``actor_id``."""
        from funchost.observability.propagation import traced_actor_proxy

        type_name = actor_type if isinstance(actor_type, str) else _actor_type(actor_type)
        if interface is None and not isinstance(actor_type, str):
            interface = _actor_interface(actor_type)
        if interface is None:
            raise FunchostError(
                f"ctx.actor('{type_name}', ...) needs the actor interface: pass interface=..."
            )
        return traced_actor_proxy(type_name, str(actor_id), interface)


def _workflow_name(fn: Any) -> str:
    from funchost.triggers import WorkflowDef, definitions_of

    for d in definitions_of(fn):
        if isinstance(d, WorkflowDef):
            return d.name
    return str(getattr(fn, "__name__", fn))


def _actor_type(cls: Any) -> str:
    from funchost.triggers import ActorDef, definitions_of

    for d in definitions_of(cls):
        if isinstance(d, ActorDef):
            return d.actor_type
    return str(cls.__name__)


def _actor_interface(cls: Any) -> Any:
    from dapr.actor import ActorInterface

    for base in getattr(cls, "__mro__", ()):
        if (
            base is not ActorInterface
            and isinstance(base, type)
            and ActorInterface in base.__bases__
        ):
            return base
    return None
