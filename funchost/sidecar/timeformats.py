"""Every time format the sidecar reads or writes, in one place.

- Go durations (`time.ParseDuration`): `1h30m`, `500ms`, `1.5s`, `1h0m0s0ms0μs` (as the Python SDK
  writes them); units ns, us/µs/μs, ms, s, m, h. `parse_go_duration`, `parse_duration`.
- ISO 8601 durations: `PT10S`, `P1DT2H`, `P1Y2M`, and for periods the repetition form `R5/PT10S`
  (`parse_iso_duration`; `Period` steps years/months with the calendar).
- RFC 3339 instants (`2030-01-02T15:04:05Z`): `parse_rfc3339`, `format_rfc3339`.
- Schedules (cron binding, Jobs API): cron with optional seconds, descriptors, `@every`
  (`Schedule`).
- Actor reminder/timer registrations: `dueTime`, `period`, `ttl` (`parse_actor_times`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from dateutil.relativedelta import relativedelta


class DurationError(ValueError):
    """A duration Dapr would reject (the message names the accepted forms)."""


_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NUM = r"(\d+(?:[.,]\d+)?)"
_ISO = re.compile(
    rf"^(?:R(\d+)/)?P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$",
    re.IGNORECASE,
)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go `time.ParseDuration` string ("1h30m", "500ms", "-1.5s"; bare "0")."""
    s = text.strip()
    sign = -1.0 if s[:1] == "-" else 1.0
    if s[:1] in ("+", "-"):
        s = s[1:]
    if s == "0":
        return 0.0
    total = 0.0
    pos = 0
    for match in _GO_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s) or pos == 0:
        raise DurationError(
            f"invalid duration {text!r}: expected <number><unit> with units "
            "h, m, s, ms, us/μs, ns (e.g. '1h30m', '500ms')"
        )
    return sign * total


class IsoDuration(NamedTuple):
    """An ISO 8601 duration: fixed seconds plus calendar years/months, `R<n>/` repetitions."""

    seconds: float
    years: int = 0
    months: int = 0
    repeats: int | None = None


def parse_iso_duration(text: str) -> IsoDuration | None:
    """`PT10S`, `P1DT2H`, `P1Y2M`, `R5/PT10S` as an `IsoDuration`; None if not ISO 8601."""
    m = _ISO.match(text.strip())
    if m is None or not any(m.group(i) for i in range(2, 9)):
        return None

    def num(i: int) -> float:
        g = m.group(i)
        return float(g.replace(",", ".")) if g else 0.0

    years, months = num(2), num(3)
    if years != int(years) or months != int(months):
        raise DurationError(f"invalid ISO 8601 duration {text!r}: fractional years/months")
    seconds = num(4) * 7 * 86400 + num(5) * 86400 + num(6) * 3600 + num(7) * 60 + num(8)
    repeats = int(m.group(1)) if m.group(1) is not None else None
    return IsoDuration(seconds, int(years), int(months), repeats)


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Go duration ("1m30s", "500ms"), an ISO 8601 one ("PT10S") or a number.

    Raises DurationError (a ValueError) naming the accepted forms when `text` is none of them.
    """
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if not value:
        raise DurationError("empty duration")
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    iso = parse_iso_duration(body)
    if iso is not None and not (iso.years or iso.months or iso.repeats is not None):
        return sign * iso.seconds
    try:
        if iso is not None:
            raise DurationError("calendar years/months and repetitions need a period")
        return sign * parse_go_duration(body)
    except DurationError:
        raise DurationError(
            f"invalid duration {text!r}: use a Go duration like '10s', '1m30s', '500ms' "
            "or an ISO 8601 duration like 'PT10S'"
        ) from None


def parse_instant_or_delay(text: str, now: float) -> float:
    """Epoch seconds for an RFC 3339 instant, or `now` plus a duration (Jobs dueTime/ttl)."""
    value = text.strip()
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    try:
        return parse_rfc3339(value).timestamp()
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use an RFC 3339 instant (2025-01-01T00:00:00Z) "
            "or a duration ('10s', 'PT10S')"
        ) from None


def format_rfc3339(ts: float) -> str:
    """An epoch timestamp as RFC 3339 UTC with a `Z`."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (`Z` or offset) into an aware datetime."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# -- schedules (cron binding, Jobs API) --------------------------------------------------
_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


@dataclass(frozen=True)
class Schedule:
    """A cron binding / Jobs API schedule: `@every 10s` / `@every 1m30s` (Go durations, anchored
    at the start instant), the descriptors `@yearly @annually @monthly @weekly @daily @midnight
    @hourly`, 5-field cron (minute first) and 6-field cron with seconds FIRST (as robfig/cron and
    the Dapr scheduler read it). Times are UTC; `next_after(ts, anchor)` gives the next fire time.
    """

    text: str
    every: float | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse a schedule; ValueError names the accepted forms."""
        value = " ".join(text.split())
        if not value:
            raise ValueError("empty schedule")
        low = value.lower()
        if low.startswith("@every"):
            try:
                seconds = parse_duration(value[len("@every") :].strip())
            except ValueError as exc:
                raise ValueError(f"schedule {text!r}: {exc}") from None
            if seconds <= 0:
                raise ValueError(f"schedule {text!r}: @every needs a positive duration")
            return cls(text, every=seconds)
        expr = _DESCRIPTORS.get(low)
        if expr is None:
            fields = value.split(" ")
            if len(fields) == 5:
                expr = "0 " + value
            elif len(fields) == 6:
                expr = value
            else:
                raise ValueError(
                    f"schedule {text!r} is not valid: use '@every 10s', '@daily', a 5-field cron "
                    "('*/5 * * * *') or a 6-field cron with seconds first ('*/10 * * * * *')"
                )
        from croniter import croniter

        if not croniter.is_valid(expr, second_at_beginning=True):
            raise ValueError(f"schedule {text!r} is not a valid cron expression")
        return cls(text, cron=expr)

    def next_after(self, ts: float, anchor: float | None = None) -> float:
        """The first fire time strictly after `ts` (`@every` counts from `anchor`)."""
        if self.every is not None:
            start = ts if anchor is None else anchor
            if ts < start:
                return start + self.every
            steps = math.floor((ts - start) / self.every) + 1
            return start + steps * self.every
        assert self.cron is not None
        from croniter import croniter

        base = datetime.fromtimestamp(ts, UTC)
        return float(croniter(self.cron, base, second_at_beginning=True).get_next(float))


# -- actor reminders and timers --------------------------------------------------------
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


def parse_duration_period(text: str) -> Period:
    """A Go or ISO 8601 duration (no repetitions) as a `Period` (calendar years/months kept)."""
    iso = _iso(text)
    if iso is not None:
        period, repeated = iso
        if repeated:
            raise DurationError(f"invalid duration {text!r}: repetitions (R<n>/) only in a period")
        return period
    return Period(parse_go_duration(text))


def duration_seconds(text: str) -> float:
    """A Go or ISO 8601 duration in seconds (years/months approximated; for config values)."""
    p = parse_duration_period(text)
    return p.seconds + p.years * 365 * 86400 + p.months * 30 * 86400


def parse_due_time(value: str | None, now: float) -> float:
    """`dueTime` -> absolute epoch seconds (empty = now; a negative duration fires now)."""
    if value is None or not str(value).strip():
        return now
    text = str(value).strip()
    try:
        return max(now, parse_duration_period(text).add_to(now))
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
        expires = parse_duration_period(text).add_to(due)
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
class ActorTimes:
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


def parse_actor_times(body: Mapping[str, Any], now: float) -> ActorTimes:
    """Resolve a registration body's times; raises DurationError on a bad one."""
    due_time = str(body.get("dueTime") or "")
    period_text = str(body.get("period") or "")
    ttl = str(body.get("ttl") or "")
    due = parse_due_time(due_time, now)
    return ActorTimes(
        due_time, period_text, ttl, due, parse_period(period_text), parse_ttl(ttl, due)
    )
