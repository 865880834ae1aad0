"""`TaskHubSidecarService` for a worker in the sidecar's own process, without the network.

`funchost run` puts the app's workflow worker (the SDK's `WorkflowRuntime`) and the embedded
sidecar in one process. Over loopback gRPC every work item and every result costs a protobuf
round trip through two gRPC stacks and their threads, most of the process's CPU per activity.
`LocalTaskHub` is a gRPC client interceptor for that worker's channel: it answers the
`TaskHubSidecarService` calls with the sidecar's own servicer on the sidecar's event loop, so
the worker sees the same calls, answers and status codes as over the network (the same code
serves them), minus the transport. The request size limit (`grpc.max_receive_message_length`,
the sidecar's max body size) is checked as the server would (RESOURCE_EXHAUSTED).

Streams end as over gRPC: the sidecar ending one (`Engine.close_worker`) ends the iteration,
`cancel()` raises CANCELLED in the reader and the sidecar forgets the stream (`worker_lost`);
`LocalChannel.close()` cancels its open streams (the app calls it when its worker stops).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

import grpc

from .engine import Engine
from .grpc_service import TaskHubServicer

__all__ = ["LocalChannel", "LocalTaskHub"]

_SERVICE = "/TaskHubSidecarService/"
_END = object()
_POLL = 0.5  # seconds between checks that the sidecar's loop still runs, while waiting


class _RpcError(grpc.RpcError):  # type: ignore[misc]
    """A failed call, as the gRPC client raises it (also its own outcome: `result()` raises)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def result(self, timeout: float | None = None) -> Any:
        raise self

    def exception(self, timeout: float | None = None) -> BaseException:
        return self

    def done(self) -> bool:
        return True

    def __str__(self) -> str:  # as grpc's (the SDK matches words of it)
        return (
            "<_RpcError of RPC that terminated with:\n"
            f"\tstatus = {self._code}\n\tdetails = {self._details!r}\n>"
        )


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Context:
    """The servicer's view of a call (what `TaskHubServicer` uses of grpc.aio's context)."""

    __slots__ = ("_metadata",)

    def __init__(self, metadata: Any) -> None:
        self._metadata = tuple(metadata or ())

    def invocation_metadata(self) -> tuple[Any, ...]:
        return self._metadata

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise _Abort(code, details)


class _Outcome:
    """A successful unary call: `result()` is the response."""

    __slots__ = ("_response",)

    def __init__(self, response: Any) -> None:
        self._response = response

    def result(self, timeout: float | None = None) -> Any:
        return self._response

    def exception(self, timeout: float | None = None) -> None:
        return None

    def done(self) -> bool:
        return True

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.OK

    def details(self) -> str:
        return ""


def _failure(exc: BaseException) -> _RpcError:
    if isinstance(exc, _Abort):
        return _RpcError(exc.code, exc.details)
    if isinstance(exc, TimeoutError):
        return _RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    # what grpc.aio answers for an exception escaping a servicer method
    return _RpcError(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")


class _Stream:
    """A server-streaming call read by the worker's reader thread: a pump task on the sidecar's
    loop moves the servicer's items into a thread-safe queue."""

    def __init__(self, hub: LocalChannel, agen: Any) -> None:
        self._hub = hub
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cancelled = False
        self._task: asyncio.Future[None] | None = None
        hub.loop.call_soon_threadsafe(self._start, agen)

    def _start(self, agen: Any) -> None:
        self._task = asyncio.ensure_future(agen.aclose() if self._cancelled else self._pump(agen))

    async def _pump(self, agen: Any) -> None:
        put = self._items.put
        try:
            async for item in agen:  # a cancel ends the generator too (its `finally` runs)
                put(item)
            put(_END)
        except asyncio.CancelledError:
            put(_RpcError(grpc.StatusCode.CANCELLED, "Locally cancelled by application!"))
            raise
        except Exception as exc:
            put(_failure(exc))

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                item = self._items.get(timeout=_POLL)
            except queue.Empty:
                if self._cancelled:
                    raise _RpcError(
                        grpc.StatusCode.CANCELLED, "Locally cancelled by application!"
                    ) from None
                if not self._hub.serving():
                    raise _RpcError(grpc.StatusCode.UNAVAILABLE, "Socket closed") from None
                continue
            if item is _END:
                self._items.put(_END)  # stays ended
                raise StopIteration
            if isinstance(item, _RpcError):
                self._items.put(item)
                raise item
            return item

    def cancel(self) -> bool:
        if self._cancelled:
            return False
        self._cancelled = True
        self._items.put(_RpcError(grpc.StatusCode.CANCELLED, "Locally cancelled by application!"))
        if self._hub.serving():
            self._hub.loop.call_soon_threadsafe(self._stop)
        return True

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def is_active(self) -> bool:
        return not self._cancelled


class LocalTaskHub:
    """The sidecar's side: `interceptor()` is one worker's gRPC client interceptor.

    `engine` is the sidecar's workflow engine, `loop` the sidecar's event loop, `max_receive`
    the sidecar's gRPC receive limit in bytes.
    """

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, max_receive: int) -> None:
        self.loop = loop
        self.servicer = TaskHubServicer(engine)
        self.max_receive = max_receive

    def serving(self) -> bool:
        """Whether the sidecar's loop still runs (calls are answered)."""
        return self.loop.is_running()

    def interceptor(self) -> LocalChannel:
        """A client interceptor for one worker's channel."""
        return LocalChannel(self)


class LocalChannel(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Serves one worker's `TaskHubSidecarService` calls in-process (see the module docstring).

    Calls of other services, and every call once `close()`d, go on to the network.
    """

    def __init__(self, hub: LocalTaskHub) -> None:
        self.hub = hub
        self.loop = hub.loop
        self._streams: set[_Stream] = set()
        self._lock = threading.Lock()
        self._closed = False

    def serving(self) -> bool:
        return self.hub.serving()

    def _method(self, details: Any) -> Callable[..., Any] | None:
        method = details.method
        if isinstance(method, bytes):
            method = method.decode()
        if self._closed or not method.startswith(_SERVICE):
            return None
        return getattr(self.hub.servicer, method[len(_SERVICE) :], None)

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        fn = self._method(client_call_details)
        if fn is None:
            return continuation(client_call_details, request)
        size = request.ByteSize()
        limit = self.hub.max_receive
        if size > limit:
            return _RpcError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({size} vs. {limit})",
            )
        if not self.serving():
            return _RpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
        context = _Context(client_call_details.metadata)
        future = asyncio.run_coroutine_threadsafe(fn(request, context), self.loop)
        try:
            return _Outcome(future.result(client_call_details.timeout))
        except BaseException as exc:
            future.cancel()
            return _failure(exc)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        fn = self._method(client_call_details)
        if fn is None:
            return continuation(client_call_details, request)
        if not self.serving():
            return _RpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
        stream = _Stream(self, fn(request, _Context(client_call_details.metadata)))
        with self._lock:
            self._streams = {s for s in self._streams if s.is_active()}
            self._streams.add(stream)
        return stream

    def close(self) -> None:
        """Cancel the open streams; later calls go to the network (the worker is stopping, and
        finishes over gRPC what it still sends)."""
        self._closed = True
        with self._lock:
            streams, self._streams = self._streams, set()
        for stream in streams:
            stream.cancel()
