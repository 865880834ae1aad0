"""Resiliency for service invocation: `spec.targets.apps.<app-id>` (retry, timeout, breaker).

As daprd (`pkg/resiliency`): the policy of the *target* app id wraps every attempt; an attempt
fails on a transport error or an HTTP status outside 200-399 (narrowed by the retry policy's
`matching.httpStatusCodes`, e.g. "500-599,408"); after the last retry a failed response goes back
to the caller as the app sent it. With no app policy, daprd's built-in service retries apply: a
transport failure is retried 3 times, 1s apart. Named fallbacks `DefaultAppRetryPolicy`,
`DefaultAppTimeoutPolicy`, `DefaultAppCircuitBreakerPolicy` (then the `DefaultRetryPolicy`... forms)
apply to app ids without a target. A circuit breaker opens when its `trip` expression (terms like
`consecutiveFailures >= 5` joined by `&&` / `||`) holds, refuses calls for `timeout` (default
60s), then lets `maxRequests` (default 1) trial calls through; `interval` resets the closed
counts (0 = never).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..component import ComponentError
from ..resiliency import RetryPolicy, _parse_retry
from ..timeformats import parse_duration

BUILTIN_SERVICE_RETRY = RetryPolicy("BuiltInServiceRetries", "constant", 1.0, 1.0, 3)
_COUNTERS = (
    "requests",
    "totalSuccesses",
    "totalFailures",
    "consecutiveSuccesses",
    "consecutiveFailures",
)
_TERM = re.compile(r"^\s*(\w+)\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*$")
_OPS = {
    ">=": int.__ge__,
    "<=": int.__le__,
    "==": int.__eq__,
    "!=": int.__ne__,
    ">": int.__gt__,
    "<": int.__lt__,
}


def _parse_trip(expr: str, where: str) -> list[list[tuple[str, str, int]]]:
    """`a >= 1 && b > 2 || c == 3` as OR-of-ANDs; unknown counters are an error."""
    alternatives = []
    for part in expr.split("||"):
        terms = []
        for term in part.split("&&"):
            m = _TERM.match(term)
            if m is None or m.group(1) not in _COUNTERS:
                raise ComponentError(
                    f"{where}.trip: {expr!r} is not supported: write comparisons of "
                    f"{', '.join(_COUNTERS)} with an integer, joined by && or ||"
                )
            terms.append((m.group(1), m.group(2), int(m.group(3))))
        alternatives.append(terms)
    return alternatives


@dataclass
class CircuitBreaker:
    """One breaker per target app id (gobreaker's states: closed, open, half-open)."""

    name: str
    trip: list[list[tuple[str, str, int]]]
    timeout: float = 60.0
    interval: float = 0.0
    max_requests: int = 1
    state: str = "closed"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    _opened_at: float = 0.0
    _window_start: float = 0.0
    _half_open_inflight: int = 0

    def _reset(self, now: float) -> None:
        self.counts = dict.fromkeys(_COUNTERS, 0)
        self._window_start = now

    def allow(self, now: float) -> bool:
        """Whether a call may go through now (and count it as a request)."""
        if self.state == "open":
            if now - self._opened_at < self.timeout:
                return False
            self.state, self._half_open_inflight = "half-open", 0
            self._reset(now)
        if self.state == "half-open":
            if self._half_open_inflight >= self.max_requests:
                return False
            self._half_open_inflight += 1
        elif self.interval and now - self._window_start >= self.interval:
            self._reset(now)
        self.counts["requests"] += 1
        return True

    def record(self, ok: bool, now: float) -> None:
        """Count one finished call; may open or close the breaker."""
        c = self.counts
        if ok:
            c["totalSuccesses"] += 1
            c["consecutiveSuccesses"] += 1
            c["consecutiveFailures"] = 0
            if self.state == "half-open" and c["consecutiveSuccesses"] >= self.max_requests:
                self.state = "closed"
                self._reset(now)
            return
        c["totalFailures"] += 1
        c["consecutiveFailures"] += 1
        c["consecutiveSuccesses"] = 0
        if self.state == "half-open" or self._tripped():
            self.state, self._opened_at = "open", now

    def _tripped(self) -> bool:
        return any(
            all(_OPS[op](self.counts[name], value) for name, op, value in terms)
            for terms in self.trip
        )


@dataclass
class AppPolicy:
    """What applies to calls to one app id: retry, per-attempt timeout, circuit breaker."""

    retry: RetryPolicy = BUILTIN_SERVICE_RETRY
    #: False for daprd's built-in retries (transport errors only, never a response status)
    retry_responses: bool = False
    retry_statuses: list[tuple[int, int]] | None = None
    timeout: float | None = None
    breaker: CircuitBreaker | None = None

    def failed(self, status: int) -> bool:
        """Whether a response with this status counts as a failed attempt."""
        return not 200 <= status <= 399

    def retries_status(self, status: int) -> bool:
        """Whether a failed response with this status is retried."""
        if not self.retry_responses:
            return False
        if self.retry_statuses is None:
            return True
        return any(lo <= status <= hi for lo, hi in self.retry_statuses)


def _status_ranges(raw: Any, where: str) -> list[tuple[int, int]] | None:
    if raw in (None, ""):
        return None
    ranges = []
    for item in str(raw).split(","):
        lo, _, hi = item.strip().partition("-")
        try:
            ranges.append((int(lo), int(hi or lo)))
        except ValueError:
            raise ComponentError(
                f"{where}.matching.httpStatusCodes: {raw!r} is not like '500-599,408'"
            ) from None
    return ranges


class AppPolicies:
    """Resiliency `targets.apps` of every loaded Resiliency resource; `for_app(id)` per target."""

    def __init__(self, specs: list[tuple[str, dict[str, Any]]]) -> None:
        self._retries: dict[str, tuple[RetryPolicy, list[tuple[int, int]] | None]] = {}
        self._timeouts: dict[str, float] = {}
        self._breakers: dict[str, dict[str, Any]] = {}
        self._apps: dict[str, tuple[str, dict[str, Any]]] = {}
        self._cache: dict[str, AppPolicy] = {}
        for source, spec in specs:
            policies = spec.get("policies") or {}
            for name, raw in (policies.get("retries") or {}).items():
                where = f"{source}: Resiliency spec.policies.retries.{name}"
                statuses = _status_ranges(
                    ((raw or {}).get("matching") or {}).get("httpStatusCodes"), where
                )
                self._retries[str(name)] = (_parse_retry(str(name), raw, source), statuses)
            for name, raw in (policies.get("timeouts") or {}).items():
                try:
                    self._timeouts[str(name)] = parse_duration(str(raw))
                except ValueError as exc:
                    raise ComponentError(
                        f"{source}: Resiliency spec.policies.timeouts.{name}: {exc}"
                    ) from None
            for name, raw in (policies.get("circuitBreakers") or {}).items():
                where = f"{source}: Resiliency spec.policies.circuitBreakers.{name}"
                if not isinstance(raw, dict):
                    raise ComponentError(f"{where}: must be a mapping")
                self._breakers[str(name)] = {"where": where, **raw}
                self._breaker(str(name))  # validate now: errors surface at start-up
            for app_id, target in ((spec.get("targets") or {}).get("apps") or {}).items():
                self._apps[str(app_id)] = (source, dict(target or {}))
        for app_id in self._apps:
            self.for_app(app_id)  # unknown policy names fail at start-up

    def _breaker(self, name: str) -> CircuitBreaker:
        raw = self._breakers[name]
        where = raw["where"]
        try:
            timeout = parse_duration(str(raw.get("timeout", "60s")))
            interval = parse_duration(str(raw.get("interval", "0s")))
            max_requests = int(raw.get("maxRequests", 1))
        except ValueError as exc:
            raise ComponentError(f"{where}: {exc}") from None
        trip = _parse_trip(str(raw.get("trip") or "consecutiveFailures > 5"), where)
        return CircuitBreaker(name, trip, timeout, interval, max(1, max_requests))

    def _ref(self, kind: str, ref: str, source: str, app_id: str) -> None:
        tables: dict[str, dict[str, Any]] = {
            "retry": self._retries,
            "timeout": self._timeouts,
            "circuitBreaker": self._breakers,
        }
        table = tables[kind]
        if ref not in table and not (kind == "timeout" and _is_duration(ref)):
            raise ComponentError(
                f"{source}: Resiliency spec.targets.apps.{app_id}.{kind}: policy {ref!r} is "
                f"not defined under spec.policies"
            )

    def for_app(self, app_id: str) -> AppPolicy:
        """The policy for calls to `app_id` (one breaker per app id, kept across calls)."""
        cached = self._cache.get(app_id)
        if cached is not None:
            return cached
        source, target = self._apps.get(app_id, ("", {}))
        refs = {
            kind: target.get(kind) or self._default(kind)
            for kind in ("retry", "timeout", "circuitBreaker")
        }
        for kind, ref in refs.items():
            if ref and target.get(kind):
                self._ref(kind, str(ref), source, app_id)
        policy = AppPolicy()
        if refs["retry"]:
            policy.retry, policy.retry_statuses = self._retries[str(refs["retry"])]
            policy.retry_responses = True
        if refs["timeout"]:
            ref = str(refs["timeout"])
            policy.timeout = self._timeouts.get(ref) or parse_duration(ref)
        if refs["circuitBreaker"]:
            policy.breaker = self._breaker(str(refs["circuitBreaker"]))
        self._cache[app_id] = policy
        return policy

    def _default(self, kind: str) -> str | None:
        tables: dict[str, dict[str, Any]] = {
            "retry": self._retries,
            "timeout": self._timeouts,
            "circuitBreaker": self._breakers,
        }
        table = tables[kind]
        pretty = {"retry": "Retry", "timeout": "Timeout", "circuitBreaker": "CircuitBreaker"}[kind]
        for name in (f"DefaultApp{pretty}Policy", f"Default{pretty}Policy"):
            if name in table:
                return name
        return None


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True
