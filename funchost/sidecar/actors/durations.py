"""Dapr's time formats for actor config, reminders and timers.

- Go durations (`time.ParseDuration`): `1h30m`, `500ms`, `1.5s`, `1h0m0s0ms0μs` (as the Python SDK
  writes them); units ns, us/µs/μs, ms, s, m, h.
- ISO 8601 durations: `PT10S`, `P1DT2H`, `P1Y2M`, and for periods the repetition form `R5/PT10S`.
- RFC 3339 instants (`2030-01-02T15:04:05Z`) for `dueTime` and `ttl`.

`dueTime` and `ttl` resolve to absolute epoch seconds; a duration `ttl` counts from the first due
time, as daprd does. A `period` is a `Period` (years/months step with the calendar).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dateutil.relativedelta import relativedelta

from .._durations import DurationError, parse_go_duration, parse_iso_duration
from ..clock import parse_rfc3339

__all__ = [
    "DurationError",
    "Period",
    "Schedule",
    "duration_seconds",
    "parse_due_time",
    "parse_duration",
    "parse_go_duration",
    "parse_period",
    "parse_schedule",
    "parse_ttl",
]


@dataclass(frozen=True)
class Period:
    """A reminder/timer period: a fixed step plus calendar years/months, optional repeat count."""

    seconds: float = 0.0
    years: int = 0
    months: int = 0
    repeats: int | None = None

    @property
    def is_zero(self) -> bool:
        return self.seconds <= 0 and self.years == 0 and self.months == 0

    def add_to(self, when: float) -> float:
        """`when` (epoch seconds) plus one period."""
        if self.years or self.months:
            dt = datetime.fromtimestamp(when, UTC) + relativedelta(
                years=self.years, months=self.months
            )
            return dt.timestamp() + self.seconds
        return when + self.seconds

    def first_after(self, start: float, now: float) -> float:
        """The first `start + k*period` (k >= 1) strictly after `now` (skips missed ticks)."""
        nxt = self.add_to(start)
        if nxt > now:
            return nxt
        if not (self.years or self.months) and self.seconds > 0:
            k = int((now - nxt) // self.seconds) + 1
            return nxt + k * self.seconds
        while nxt <= now:
            nxt = self.add_to(nxt)
        return nxt


def _iso(text: str) -> tuple[Period, bool] | None:
    iso = parse_iso_duration(text)
    if iso is None:
        return None
    return Period(iso.seconds, iso.years, iso.months, iso.repeats), iso.repeats is not None


def parse_duration(text: str) -> Period:
    """A Go or ISO 8601 duration (no repetitions) as a `Period`."""
    iso = _iso(text)
    if iso is not None:
        period, repeated = iso
        if repeated:
            raise DurationError(f"invalid duration {text!r}: repetitions (R<n>/) only in a period")
        return period
    return Period(parse_go_duration(text))


def duration_seconds(text: str) -> float:
    """A Go or ISO 8601 duration in seconds (years/months approximated; for config values)."""
    p = parse_duration(text)
    return p.seconds + p.years * 365 * 86400 + p.months * 30 * 86400


def parse_due_time(value: str | None, now: float) -> float:
    """`dueTime` -> absolute epoch seconds (empty = now; a negative duration fires now)."""
    if value is None or not str(value).strip():
        return now
    text = str(value).strip()
    try:
        return max(now, parse_duration(text).add_to(now))
    except DurationError:
        pass
    try:
        return parse_rfc3339(text).timestamp()
    except ValueError:
        raise DurationError(
            f"invalid dueTime {value!r}: use a Go duration ('10s'), an ISO 8601 duration "
            "('PT10S') or an RFC 3339 time ('2030-01-02T15:04:05Z')"
        ) from None


def parse_period(value: str | None) -> Period | None:
    """`period` -> `Period`, or None for a one-shot reminder/timer."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    iso = _iso(text)
    if iso is not None:
        period = iso[0]
    else:
        try:
            period = Period(parse_go_duration(text))
        except DurationError:
            raise DurationError(
                f"invalid period {value!r}: use a Go duration ('10s') or an ISO 8601 duration "
                "with optional repetitions ('PT10S', 'R5/PT10S')"
            ) from None
    if period.repeats is not None and period.repeats <= 0:
        raise DurationError(f"invalid period {value!r}: repetitions must be > 0")
    if period.seconds < 0:
        raise DurationError(f"invalid period {value!r}: must not be negative")
    if period.is_zero:
        if period.repeats is not None:
            raise DurationError(f"invalid period {value!r}: a repeated period must be > 0")
        return None
    return period


def parse_ttl(value: str | None, due: float) -> float | None:
    """`ttl` -> absolute expiry (epoch seconds); a duration counts from the first due time."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        expires = parse_duration(text).add_to(due)
    except DurationError:
        try:
            expires = parse_rfc3339(text).timestamp()
        except ValueError:
            raise DurationError(
                f"invalid ttl {value!r}: use a Go duration ('1h'), an ISO 8601 duration "
                "('PT1H') or an RFC 3339 time"
            ) from None
    if expires <= due:
        raise DurationError(f"invalid ttl {value!r}: it expires before the first due time")
    return expires


@dataclass(frozen=True)
class Schedule:
    """A reminder's or timer's `dueTime`/`period`/`ttl`: as registered, and resolved."""

    due_time: str
    period_text: str
    ttl: str
    due: float
    period: Period | None
    expires: float | None

    @property
    def repeats(self) -> int | None:
        return self.period.repeats if self.period is not None else None


def parse_schedule(body: Mapping[str, Any], now: float) -> Schedule:
    """Resolve a registration body's times; raises DurationError on a bad one."""
    due_time = str(body.get("dueTime") or "")
    period_text = str(body.get("period") or "")
    ttl = str(body.get("ttl") or "")
    due = parse_due_time(due_time, now)
    return Schedule(due_time, period_text, ttl, due, parse_period(period_text), parse_ttl(ttl, due))
