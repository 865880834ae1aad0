"""Prometheus metrics of one funchost app, on a registry of its own (never the global one).

Per function (labels `function`, `trigger`): invocations, failures, retries, drops, dead letters,
a duration histogram and an in-flight gauge; per workflow: starts, completions, failures; per
actor type: activations. `Metrics.render()` is the `/metrics` body; `metrics_response()` serves it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate

__all__ = ["OUTCOMES", "FunctionMetrics", "Metrics"]

# How an invocation ended, as the sidecar sees it.
OUTCOMES = ("success", "retry", "drop", "dead_letter")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class FunctionMetrics:
    """The label-bound children of one function (looked up once, then cheap to update)."""

    invocations: Counter
    failures: Counter
    retries: Counter
    drops: Counter
    dead_letters: Counter
    duration: Histogram
    in_flight: Gauge

    def started(self) -> None:
        """An invocation began."""
        self.in_flight.inc()

    def finished(self, outcome: str, seconds: float, failed: bool = False) -> None:
        """An invocation ended with `outcome` (one of OUTCOMES); `failed` when it raised."""
        self.in_flight.dec()
        self.invocations.inc()
        self.duration.observe(seconds)
        if failed:
            self.failures.inc()
        if outcome == "retry":
            self.retries.inc()
        elif outcome == "drop":
            self.drops.inc()
        elif outcome == "dead_letter":
            self.drops.inc()
            self.dead_letters.inc()


class Metrics:
    """All metrics of one app; pass a `CollectorRegistry` to share one, else a fresh one is made."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        labels = ["function", "trigger"]
        self._invocations = Counter(
            "funchost_function_invocations", "Function invocations that ended.", labels, registry=r
        )
        self._failures = Counter(
            "funchost_function_failures", "Invocations that raised an error.", labels, registry=r
        )
        self._retries = Counter(
            "funchost_function_retries",
            "Invocations answered RETRY (redelivered).",
            labels,
            registry=r,
        )
        self._drops = Counter(
            "funchost_function_drops", "Invocations answered DROP.", labels, registry=r
        )
        self._dead_letters = Counter(
            "funchost_function_dead_letters",
            "Dropped messages sent to a dead-letter topic.",
            labels,
            registry=r,
        )
        self._duration = Histogram(
            "funchost_function_duration_seconds",
            "Time spent in a function invocation.",
            labels,
            buckets=_BUCKETS,
            registry=r,
        )
        self._in_flight = Gauge(
            "funchost_function_in_flight", "Invocations running now.", labels, registry=r
        )
        self.workflow_starts = Counter(
            "funchost_workflow_starts", "Workflow instances started.", ["workflow"], registry=r
        )
        self.workflow_completions = Counter(
            "funchost_workflow_completions",
            "Workflow instances completed.",
            ["workflow"],
            registry=r,
        )
        self.workflow_failures = Counter(
            "funchost_workflow_failures", "Workflow instances failed.", ["workflow"], registry=r
        )
        self.actor_activations = Counter(
            "funchost_actor_activations", "Actor activations.", ["actor_type"], registry=r
        )
        self._children: dict[tuple[str, str], FunctionMetrics] = {}
        self._lock = threading.Lock()

    def function(self, name: str, trigger: str) -> FunctionMetrics:
        """The metrics of one function (created at first use, so all series appear at once)."""
        key = (name, trigger)
        found = self._children.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._children.get(key)
            if found is None:
                found = FunctionMetrics(
                    self._invocations.labels(name, trigger),
                    self._failures.labels(name, trigger),
                    self._retries.labels(name, trigger),
                    self._drops.labels(name, trigger),
                    self._dead_letters.labels(name, trigger),
                    self._duration.labels(name, trigger),
                    self._in_flight.labels(name, trigger),
                )
                self._children[key] = found
        return found

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return _generate(self.registry)

    content_type = CONTENT_TYPE_LATEST

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0.0 when absent); for tests and `funchost status`."""
        found = self.registry.get_sample_value(name, labels or {})
        return float(found) if found is not None else 0.0
