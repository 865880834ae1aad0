"""Retry policies from Dapr `Resiliency` resources.

Lookup for a component's inbound work (pub/sub delivery to the app, input bindings): the policy
named by `targets.components.<name>.inbound.retry`, else the built-in named policies
`DefaultComponentInboundRetryPolicy`, `DefaultComponentRetryPolicy`, `DefaultRetryPolicy` when
defined, else the embedded default: constant 1s, 3 retries (4 attempts in all) — daprd's
documented `DefaultRetryPolicy`. Exponential back-off starts at 0.5s and grows x1.5 up to
`maxInterval` (default 60s), without jitter so runs are reproducible. `maxRetries: -1` retries
forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .component import ComponentError
from .timeformats import parse_duration


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts."""

    name: str = "embedded-default"
    policy: str = "constant"
    duration: float = 1.0
    max_interval: float = 60.0
    max_retries: int = 3

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        if self.policy == "exponential":
            return float(min(self.max_interval, 0.5 * (1.5 ** max(0, retry - 1))))
        return self.duration

    def allows(self, retries_done: int) -> bool:
        """True when another retry is allowed after `retries_done` retries."""
        return self.max_retries < 0 or retries_done < self.max_retries


DEFAULT_RETRY = RetryPolicy()
_NAMED_DEFAULTS = (
    "DefaultComponentInboundRetryPolicy",
    "DefaultComponentRetryPolicy",
    "DefaultRetryPolicy",
)


def _parse_retry(name: str, raw: Any, source: str) -> RetryPolicy:
    where = f"{source}: Resiliency spec.policies.retries.{name}"
    if not isinstance(raw, dict):
        raise ComponentError(f"{where}: must be a mapping")
    policy = str(raw.get("policy") or "constant").lower()
    if policy not in ("constant", "exponential"):
        raise ComponentError(f"{where}.policy: {policy!r} is not constant or exponential")
    try:
        duration = parse_duration(raw.get("duration", "1s"))
        max_interval = parse_duration(raw.get("maxInterval", "60s"))
    except ValueError as exc:
        raise ComponentError(f"{where}: {exc}") from None
    try:
        max_retries = int(raw.get("maxRetries", -1))
    except (TypeError, ValueError):
        raise ComponentError(f"{where}.maxRetries: must be an integer") from None
    return RetryPolicy(name, policy, duration, max_interval, max_retries)


class Resiliency:
    """All Resiliency resources merged (later files override earlier names)."""

    def __init__(self, specs: list[tuple[str, dict[str, Any]]]) -> None:
        self.retries: dict[str, RetryPolicy] = {}
        self.timeouts: dict[str, float] = {}
        self.components: dict[str, dict[str, Any]] = {}
        sources: dict[str, str] = {}
        for source, spec in specs:
            policies = spec.get("policies") or {}
            for name, raw in (policies.get("retries") or {}).items():
                self.retries[str(name)] = _parse_retry(str(name), raw, source)
            for name, raw in (policies.get("timeouts") or {}).items():
                try:
                    self.timeouts[str(name)] = parse_duration(str(raw))
                except ValueError as exc:
                    raise ComponentError(
                        f"{source}: Resiliency spec.policies.timeouts.{name}: {exc}"
                    ) from None
            for name, target in ((spec.get("targets") or {}).get("components") or {}).items():
                self.components[str(name)] = dict(target or {})
                sources[str(name)] = source
        for name, target in self.components.items():
            for direction in ("inbound", "outbound"):
                ref = (target.get(direction) or {}).get("retry")
                if ref and ref not in self.retries:
                    raise ComponentError(
                        f"{sources[name]}: Resiliency spec.targets.components.{name}.{direction}"
                        ".retry: "
                        f"policy {ref!r} is not defined under spec.policies.retries"
                    )

    def component_timeout(self, component: str, direction: str = "inbound") -> float | None:
        """Seconds allowed per call (a named policy or an inline duration), None = no policy."""
        ref = ((self.components.get(component) or {}).get(direction) or {}).get("timeout")
        if not ref:
            return None
        if ref in self.timeouts:
            return self.timeouts[ref]
        try:
            return parse_duration(str(ref))
        except ValueError:
            raise ComponentError(
                f"Resiliency targets.components.{component}.{direction}.timeout: {ref!r} is "
                "neither a policy under spec.policies.timeouts nor a duration"
            ) from None

    def component_retry(self, component: str, direction: str = "inbound") -> RetryPolicy:
        """The retry policy for work a component hands to the app (inbound) or the reverse."""
        ref = ((self.components.get(component) or {}).get(direction) or {}).get("retry")
        if ref:
            return self.retries[ref]
        for name in _NAMED_DEFAULTS:
            if name in self.retries:
                return self.retries[name]
        return DEFAULT_RETRY
