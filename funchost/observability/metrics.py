"""Prometheus metrics of one funchost app, on a registry of its own (never the global one).

Per function (labels `function`, `trigger`): invocations, failures, retries, drops, dead letters,
a duration histogram and an in-flight gauge; per workflow: starts, completions, failures; per
actor type: activations. `Metrics.render()` is the `/metrics` body; `metrics_response()` serves it.

The registry and its counters are made at first use (a scrape, a workflow start, an actor
activation): prometheus_client stays unloaded in an app nobody scrapes, as in the sidecar.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.core import Metric

__all__ = ["OUTCOMES", "FunctionMetrics", "Metrics"]

# How an invocation ended, as the sidecar sees it.
OUTCOMES = ("success", "retry", "drop", "dead_letter", "failed")  # failed: no retry follows
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class FunctionMetrics:
    """Plain counters of one function, updated under one lock and exported at scrape time.

    (Cheaper per call than five prometheus-client children: the hot path is a few integer
    additions and a bisect.)
    """

    __slots__ = (
        "buckets",
        "dead_letters",
        "drops",
        "duration_sum",
        "failures",
        "in_flight",
        "invocations",
        "lock",
        "retries",
    )

    def __init__(self) -> None:
        self.invocations = self.failures = self.retries = self.drops = self.dead_letters = 0
        self.in_flight = 0
        self.duration_sum = 0.0
        self.buckets = [0] * (len(_BUCKETS) + 1)
        self.lock = threading.Lock()

    def started(self) -> None:
        """An invocation began."""
        with self.lock:
            self.in_flight += 1

    def finished(self, outcome: str, seconds: float, failed: bool = False) -> None:
        """An invocation ended with `outcome` (one of OUTCOMES); `failed` when it raised."""
        index = bisect_left(_BUCKETS, seconds)
        with self.lock:
            self.in_flight -= 1
            self.invocations += 1
            self.duration_sum += seconds
            self.buckets[index] += 1
            if failed:
                self.failures += 1
            if outcome != "success":
                if outcome == "retry":
                    self.retries += 1
                elif outcome == "drop":
                    self.drops += 1
                elif outcome == "dead_letter":
                    self.drops += 1
                    self.dead_letters += 1


class _FunctionCollector:  # a prometheus_client Collector (duck-typed: imported at first use)
    def __init__(self, functions: dict[tuple[str, str], FunctionMetrics]) -> None:
        self.functions = functions

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
        from prometheus_client.utils import floatToGoString

        labels = ["function", "trigger"]
        families = {
            "invocations": CounterMetricFamily(
                "funchost_function_invocations", "Function invocations that ended.", labels=labels
            ),
            "failures": CounterMetricFamily(
                "funchost_function_failures", "Invocations that raised an error.", labels=labels
            ),
            "retries": CounterMetricFamily(
                "funchost_function_retries",
                "Invocations answered RETRY (redelivered).",
                labels=labels,
            ),
            "drops": CounterMetricFamily(
                "funchost_function_drops", "Invocations answered DROP.", labels=labels
            ),
            "dead_letters": CounterMetricFamily(
                "funchost_function_dead_letters",
                "Dropped messages sent to a dead-letter topic.",
                labels=labels,
            ),
        }
        in_flight = GaugeMetricFamily(
            "funchost_function_in_flight", "Invocations running now.", labels=labels
        )
        duration = HistogramMetricFamily(
            "funchost_function_duration_seconds",
            "Time spent in a function invocation.",
            labels=labels,
        )
        for (name, trigger), fm in sorted(self.functions.items()):
            with fm.lock:
                values = {key: getattr(fm, key) for key in families}
                flying, total, counts = fm.in_flight, fm.duration_sum, list(fm.buckets)
            for key, family in families.items():
                family.add_metric([name, trigger], values[key])
            in_flight.add_metric([name, trigger], flying)
            cumulative, running = [], 0
            for bound, count in zip((*_BUCKETS, float("inf")), counts, strict=True):
                running += count
                cumulative.append((floatToGoString(bound), running))
            duration.add_metric([name, trigger], cumulative, total)
        yield from families.values()
        yield in_flight
        yield duration


@dataclass(frozen=True, slots=True)
class _Series:
    """The Prometheus objects of one `Metrics` (prometheus_client is loaded to make them)."""

    registry: CollectorRegistry
    workflow_starts: Counter
    workflow_completions: Counter
    workflow_failures: Counter
    actor_activations: Counter

    @classmethod
    def make(
        cls, given: CollectorRegistry | None, functions: dict[tuple[str, str], FunctionMetrics]
    ) -> _Series:
        from prometheus_client import CollectorRegistry, Counter

        r = given if given is not None else CollectorRegistry()
        r.register(_FunctionCollector(functions))

        def counter(name: str, doc: str, label: str) -> Counter:
            return Counter(name, doc, [label], registry=r)

        return cls(
            r,
            counter("funchost_workflow_starts", "Workflow instances started.", "workflow"),
            counter("funchost_workflow_completions", "Workflow instances completed.", "workflow"),
            counter("funchost_workflow_failures", "Workflow instances failed.", "workflow"),
            counter("funchost_actor_activations", "Actor activations.", "actor_type"),
        )


class Metrics:
    """All metrics of one app; pass a `CollectorRegistry` to share one, else a fresh one is made
    (at first use, as the counters: see the module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._given = registry
        self._series: _Series | None = None
        self._children: dict[tuple[str, str], FunctionMetrics] = {}
        self._lock = threading.Lock()

    def _made(self) -> _Series:
        """The registry and counters, made once (thread-safe) at first use."""
        series = self._series
        if series is None:
            with self._lock:
                if self._series is None:
                    self._series = _Series.make(self._given, self._children)
                series = self._series
        return series

    @property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry holding this app's metrics."""
        return self._made().registry

    @property
    def workflow_starts(self) -> Counter:
        return self._made().workflow_starts

    @property
    def workflow_completions(self) -> Counter:
        return self._made().workflow_completions

    @property
    def workflow_failures(self) -> Counter:
        return self._made().workflow_failures

    @property
    def actor_activations(self) -> Counter:
        return self._made().actor_activations

    def function(self, name: str, trigger: str) -> FunctionMetrics:
        """The metrics of one function (created at first use, so all series appear at once)."""
        key = (name, trigger)
        found = self._children.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._children.get(key)
            if found is None:
                found = FunctionMetrics()
                self._children[key] = found
        return found

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        """The media type of `render()`'s body."""
        from prometheus_client import CONTENT_TYPE_LATEST

        return str(CONTENT_TYPE_LATEST)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0.0 when absent); for tests and `funchost status`."""
        found = self.registry.get_sample_value(name, labels or {})
        return float(found) if found is not None else 0.0
