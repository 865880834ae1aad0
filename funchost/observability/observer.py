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
from collections import deque
from typing import Any

from . import scope
from .metrics import Metrics
from .tracing import Tracing, setup_tracing

__all__ = ["Observer"]

log = logging.getLogger("funchost.invocation")


class _Attempts:
    """Delivery attempts per event id: an event that did not succeed is remembered (bounded,
    oldest first out), so its redelivery is attempt 2, 3...; successes cost one lookup."""

    def __init__(self, size: int = 10_000) -> None:
        self._failed: dict[str, int] = {}
        self._size = size

    def next(self, key: str) -> int:
        return self._failed.get(key, 0) + 1

    def failed(self, key: str, attempt: int) -> None:
        failed = self._failed
        failed[key] = attempt
        if len(failed) > self._size:
            failed.pop(next(iter(failed)), None)

    def forget(self, key: str) -> None:
        self._failed.pop(key, None)


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
        # (end time, seconds, invocation) of the last invocations
        self.recent: deque[tuple[float, float, scope.Invocation]] = deque(maxlen=200)
        self._actors: set[tuple[str, str]] = set()

    @classmethod
    def from_env(cls, service_name: str = "funchost") -> Observer:
        """An observer configured by the environment (FUNCHOST_OBSERVABILITY=off disables it)."""
        switch = os.environ.get("FUNCHOST_OBSERVABILITY", "on").strip().lower()
        enabled = switch not in ("off", "0", "false")
        tracing = setup_tracing(service_name) if enabled else None
        return cls(Metrics(), tracing, enabled=enabled)

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
    ) -> _Observed:
        """Run the `with` block as one observed invocation of `function` (trigger `kind`).

        `with observer.invocation(...) as inv:` binds `inv` (a `scope.Invocation`); set
        `inv.outcome` (success / retry / drop / dead_letter) before the block ends.
        """
        if attempt is None:
            attempt = self.attempts.next(event_id) if event_id else 1
        return _Observed(
            self,
            function,
            kind,
            (traceparent, tracestate, event_id, instance_id, actor_id, attempt),
        )

    def _record(self, inv: scope.Invocation, took: float, failed: bool) -> None:
        self.recent.append((time.time(), took, inv))
        if inv.event_id:
            if inv.outcome != "success":
                self.attempts.failed(inv.event_id, inv.attempt)
            elif inv.attempt > 1:
                self.attempts.forget(inv.event_id)
        if failed and inv.outcome != "success":
            log.warning(
                "%s %s failed (%s): %s",
                inv.kind,
                inv.function,
                _failure_note(inv),
                inv.error,
                exc_info=_exc_info(inv.error),
            )

    def recent_invocations(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last invocations, newest first, as JSON-ready dicts (for `funchost status`)."""
        out = []
        for ended, took, inv in list(self.recent)[-limit:][::-1]:
            item: dict[str, Any] = {
                "time": ended,
                "function": inv.function,
                "trigger": inv.kind,
                "outcome": inv.outcome,
                "seconds": took,
                "id": inv.event_id or inv.instance_id or inv.actor_id,
                "attempt": inv.attempt,
                "trace_id": inv.trace_id,
            }
            if inv.error is not None:
                item["error"] = f"{type(inv.error).__name__}: {inv.error}"
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


class _Observed:
    """The context manager `Observer.invocation()` returns (a class: cheaper than a generator)."""

    __slots__ = ("args", "fm", "function", "inv", "kind", "observer", "span", "start", "token")

    def __init__(self, observer: Observer, function: str, kind: str, args: tuple[Any, ...]):
        self.observer = observer
        self.function = function
        self.kind = kind
        self.args = args
        self.span: Any = None

    def __enter__(self) -> scope.Invocation:
        inv, self.token = scope.enter(self.function, self.kind, *self.args)
        self.inv = inv
        observer = self.observer
        if observer.enabled:
            self.fm = fm = observer.metrics.function(self.function, self.kind)
            fm.started()
            if observer.tracing is not None:
                self.span = observer.tracing.span(inv)
                self.span.__enter__()
            self.start = time.perf_counter()
        return inv

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        inv = self.inv
        try:
            if exc is not None:
                if inv.outcome == "success":
                    inv.fail(exc)
                elif inv.error is None:
                    inv.error = exc
            if self.observer.enabled:
                took = time.perf_counter() - self.start
                if self.span is not None:
                    self.span.__exit__(exc_type, exc, tb)
                error = inv.error
                failed = error is not None and not _is_signal(error)
                self.fm.finished(inv.outcome, took, failed)
                self.observer._record(inv, took, failed)
        finally:
            scope.leave(self.token)


def _failure_note(inv: scope.Invocation) -> str:
    """What follows a failure: ``retry``, or for an activity which try of its policy it was."""
    if inv.kind != "activity":
        return inv.outcome
    most = (inv.extra or {}).get("max_attempts")
    if most is None:  # no retry policy, or the workflow runs in another process
        return "the workflow gets the error, unless the call has a retry policy"
    if most <= 1:
        return "its retry policy allows one try: no retries"
    if inv.outcome == "retry":
        return f"try {inv.attempt} of {most}, will be retried"
    return f"last try, {inv.attempt} of {most}: no more retries"


def _is_signal(error: BaseException) -> bool:
    # Retry / Drop (and a 4xx HTTPException of an @invoke handler) raised on purpose by a
    # handler are outcomes, not failures.
    if type(error).__name__ == "HTTPException":
        code = getattr(error, "status_code", 500)
        return isinstance(code, int) and code < 500
    return type(error).__name__ in ("Retry", "Drop") or getattr(error, "status", None) in (
        "RETRY",
        "DROP",
    )


def _exc_info(error: Any) -> Any:
    if isinstance(error, BaseException) and error.__traceback__ is not None:
        return (type(error), error, error.__traceback__)
    return None
