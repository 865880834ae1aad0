"""The per-app metrics registry and the observer's accounting of outcomes."""

from __future__ import annotations

import pytest

from funchost.errors import Retry
from funchost.observability import Metrics, Observer

L = {"function": "on_order", "trigger": "topic"}


def test_registries_are_per_app() -> None:
    a, b = Metrics(), Metrics()
    a.function("on_order", "topic").finished("success", 0.01)
    assert a.value("funchost_function_invocations_total", L) == 1
    assert b.value("funchost_function_invocations_total", L) == 0


def test_observer_counts_success_retry_failure_drop() -> None:
    obs = Observer(Metrics())
    with obs.invocation("on_order", "topic", event_id="e1") as inv:
        assert obs.metrics.value("funchost_function_in_flight", L) == 1
        assert inv.attempt == 1
    with pytest.raises(RuntimeError), obs.invocation("on_order", "topic", event_id="e2"):
        raise RuntimeError("boom")
    with obs.invocation("on_order", "topic", event_id="e2") as inv:
        assert inv.attempt == 2  # the redelivery of e2
        inv.fail(Retry("not yet"), "retry")
    with obs.invocation("on_order", "topic", event_id="e3") as inv:
        inv.outcome = "dead_letter"
    m = obs.metrics
    assert m.value("funchost_function_invocations_total", L) == 4
    assert m.value("funchost_function_failures_total", L) == 1  # Retry is a signal, not a failure
    assert m.value("funchost_function_retries_total", L) == 2
    assert m.value("funchost_function_drops_total", L) == 1
    assert m.value("funchost_function_dead_letters_total", L) == 1
    assert m.value("funchost_function_in_flight", L) == 0
    assert m.value("funchost_function_duration_seconds_count", L) == 4
    text = m.render().decode()
    assert 'funchost_function_invocations_total{function="on_order",trigger="topic"} 4.0' in text


def test_disabled_observer_counts_nothing() -> None:
    obs = Observer(Metrics(), enabled=False)
    with obs.invocation("f", "invoke") as inv:
        assert inv.function == "f"
    assert (
        obs.metrics.value(
            "funchost_function_invocations_total", {"function": "f", "trigger": "invoke"}
        )
        == 0
    )


def test_actor_activations_count_once_until_deactivated() -> None:
    obs = Observer(Metrics())
    for _ in range(3):
        obs.actor_call("TaskActor", "t1")
    obs.actor_call("TaskActor", "t2")
    obs.actor_deactivated("TaskActor", "t1")
    obs.actor_call("TaskActor", "t1")
    assert obs.metrics.value("funchost_actor_activations_total", {"actor_type": "TaskActor"}) == 3
