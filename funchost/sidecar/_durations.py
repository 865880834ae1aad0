"""Go-style and ISO 8601 durations and RFC 3339 instants, as Dapr resources and APIs write them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from .clock import parse_rfc3339


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
    from datetime import UTC

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
