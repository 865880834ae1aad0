"""Resiliency `targets.apps` for invocation: parsing, defaults and the circuit breaker's states."""

from __future__ import annotations

from typing import Any

import pytest

from funchost.sidecar.component import ComponentError
from funchost.sidecar.invocation.policy import BUILTIN_SERVICE_RETRY, AppPolicies


def _spec(policies: dict[str, Any], apps: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("res.yaml", {"policies": policies, "targets": {"apps": apps}})]


def test_app_without_policy_gets_builtin_transport_retries_only() -> None:
    policy = AppPolicies([]).for_app("anyone")
    assert policy.retry == BUILTIN_SERVICE_RETRY and not policy.retry_responses
    assert policy.timeout is None and policy.breaker is None
    assert policy.failed(500) and not policy.failed(302) and not policy.retries_status(503)


def test_named_policies_and_status_matching() -> None:
    policies = AppPolicies(
        _spec(
            {
                "retries": {
                    "r": {
                        "policy": "constant",
                        "duration": "5ms",
                        "maxRetries": 2,
                        "matching": {"httpStatusCodes": "500-599,408"},
                    }
                },
                "timeouts": {"t": "250ms"},
            },
            {"billing": {"retry": "r", "timeout": "t"}, "inline": {"timeout": "2s"}},
        )
    )
    billing = policies.for_app("billing")
    assert billing.retry.max_retries == 2 and billing.timeout == 0.25
    assert billing.retries_status(503) and billing.retries_status(408)
    assert not billing.retries_status(404)
    assert policies.for_app("inline").timeout == 2.0
    assert policies.for_app("billing") is billing  # one breaker per app id, kept


def test_default_app_policies_apply_to_every_app() -> None:
    policies = AppPolicies(_spec({"retries": {"DefaultAppRetryPolicy": {"maxRetries": 1}}}, {}))
    assert policies.for_app("x").retry.name == "DefaultAppRetryPolicy"


@pytest.mark.parametrize(
    ("policies", "apps", "message"),
    [
        ({}, {"a": {"retry": "nope"}}, "targets.apps.a.retry: policy 'nope' is not defined"),
        ({}, {"a": {"circuitBreaker": "cb"}}, "targets.apps.a.circuitBreaker: policy 'cb'"),
        (
            {"circuitBreakers": {"cb": {"trip": "failures > 1"}}},
            {},
            "circuitBreakers.cb.trip: 'failures > 1' is not supported",
        ),
    ],
)
def test_bad_policies_fail_at_start_naming_the_field(
    policies: dict[str, Any], apps: dict[str, Any], message: str
) -> None:
    with pytest.raises(ComponentError, match=message.replace("(", r"\(")):
        AppPolicies(_spec(policies, apps))


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    policies = AppPolicies(
        _spec(
            {
                "circuitBreakers": {
                    "cb": {
                        "maxRequests": 1,
                        "timeout": "10s",
                        "trip": "consecutiveFailures >= 2 || totalFailures > 9",
                    }
                }
            },
            {"a": {"circuitBreaker": "cb"}},
        )
    )
    cb = policies.for_app("a").breaker
    assert cb is not None
    for now in (0.0, 1.0):
        assert cb.allow(now)
        cb.record(False, now)
    assert cb.state == "open" and not cb.allow(5.0)
    assert cb.allow(11.5) and cb.state == "half-open"
    assert not cb.allow(11.6)  # one trial call at a time
    cb.record(False, 11.7)
    assert cb.state == "open" and not cb.allow(12.0)
    assert cb.allow(22.0)
    cb.record(True, 22.1)
    assert cb.state == "closed" and cb.allow(22.2)
