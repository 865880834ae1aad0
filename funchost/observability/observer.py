"""`Observer`: one object that opens an invocation scope with metrics, a span and failure logs.

The dispatch path calls `observer.invocation(function, kind, traceparent=..., event_id=...)`
around a handler; inside, `scope.current()` is the `Invocation` (log fields, outgoing trace
context) and the handler's outcome (`inv.outcome`: success / retry / drop / dead_letter) is
counted when the block ends. An exception escaping the block counts as a failure and a retry.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from . import scope
from .metrics import Metrics
from .tracing import Tracing, setup_tracing

__all__ = ["Observer"]

log = logging.getLogger("funchost.invocation")


class _Attempts:
    """Counts deliveries of the same event id (bounded LRU), so a redelivery is attempt 2, 3..."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._size = size

    def next(self, key: str) -> int:
        count = self._seen.pop(key, 0) + 1
        self._seen[key] = count
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return count

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


class Observer:
    """Metrics + tracing + logs for invocations of one app."""

    def __init__(
        self,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
        *,
        enabled: bool = True,
    ) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.tracing = tracing
        self.enabled = enabled
        self.attempts = _Attempts()
        # (end time, function, kind, outcome, seconds, id, attempt, trace id, error)
        self.recent: deque[tuple[Any, ...]] = deque(maxlen=200)
        self._actors: set[tuple[str, str]] = set()

    @classmethod
    def from_env(cls, service_name: str = "funchost") -> Observer:
        """An observer configured by the environment (FUNCHOST_OBSERVABILITY=off disables it)."""
        switch = os.environ.get("FUNCHOST_OBSERVABILITY", "on").strip().lower()
        enabled = switch not in ("off", "0", "false")
        return cls(Metrics(), setup_tracing(service_name) if enabled else None, enabled=enabled)

    @contextmanager
    def invocation(
        self,
        function: str,
        kind: str,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
        event_id: str | None = None,
        instance_id: str | None = None,
        actor_id: str | None = None,
        attempt: int | None = None,
    ) -> Iterator[scope.Invocation]:
        """Run the block as one observed invocation of `function` (trigger `kind`)."""
        if attempt is None:
            attempt = self.attempts.next(event_id) if event_id else 1
        with scope.invocation(
            function,
            kind,
            traceparent=traceparent,
            tracestate=tracestate,
            event_id=event_id,
            instance_id=instance_id,
            actor_id=actor_id,
            attempt=attempt,
        ) as inv:
            if not self.enabled:
                yield inv
                return
            fm = self.metrics.function(function, kind)
            fm.started()
            start = time.perf_counter()
            try:
                with ExitStack() as stack:
                    if self.tracing is not None:
                        stack.enter_context(self.tracing.span(inv))
                    yield inv
            except BaseException as exc:
                if inv.outcome == "success":
                    inv.fail(exc)
                elif inv.error is None:
                    inv.error = exc
                raise
            finally:
                failed = inv.error is not None and not _is_signal(inv.error)
                took = time.perf_counter() - start
                fm.finished(inv.outcome, took, failed=failed)
                self.recent.append(
                    (
                        time.time(),
                        function,
                        kind,
                        inv.outcome,
                        took,
                        event_id or inv.instance_id or inv.actor_id,
                        inv.attempt,
                        inv.trace_id,
                        f"{type(inv.error).__name__}: {inv.error}" if inv.error else None,
                    )
                )
                if event_id and inv.outcome == "success":
                    self.attempts.forget(event_id)
                if failed and inv.outcome != "success":
                    log.warning(
                        "%s %s failed (%s): %s",
                        kind,
                        function,
                        inv.outcome,
                        inv.error,
                        exc_info=_exc_info(inv.error),
                    )

    def recent_invocations(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last invocations, newest first, as JSON-ready dicts (for `funchost status`)."""
        keys = ("time", "function", "trigger", "outcome", "seconds", "id", "attempt", "trace_id")
        out = []
        for row in list(self.recent)[-limit:][::-1]:
            item = dict(zip(keys, row[:8], strict=True))
            if row[8]:
                item["error"] = row[8]
            out.append(item)
        return out

    def actor_call(self, actor_type: str, actor_id: str) -> None:
        """Count an activation the first time an actor id is called (until it deactivates)."""
        key = (actor_type, actor_id)
        if key not in self._actors:
            self._actors.add(key)
            self.metrics.actor_activations.labels(actor_type).inc()

    def actor_deactivated(self, actor_type: str, actor_id: str) -> None:
        """The sidecar deactivated an actor: its next call activates it again."""
        self._actors.discard((actor_type, actor_id))


def _is_signal(error: BaseException) -> bool:
    # Retry / Drop raised on purpose by a handler are outcomes, not failures.
    return type(error).__name__ in ("Retry", "Drop") or getattr(error, "status", None) in (
        "RETRY",
        "DROP",
    )


def _exc_info(error: Any) -> Any:
    if isinstance(error, BaseException) and error.__traceback__ is not None:
        return (type(error), error, error.__traceback__)
    return None
