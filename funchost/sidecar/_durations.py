"""Go-style and ISO 8601 durations and RFC 3339 instants, as Dapr resources and APIs write them."""

from __future__ import annotations

import re
from datetime import datetime

from .clock import parse_rfc3339

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
_ISO = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Go duration ("1m30s", "500ms"), an ISO 8601 one ("PT10S") or a number.

    Raises ValueError naming the accepted forms when `text` is none of them.
    """
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    iso = _ISO.match(body.upper())
    if iso and body.upper() != "P" and any(iso.groupdict().values()):
        parts = {k: float(v) if v else 0.0 for k, v in iso.groupdict().items()}
        return sign * (parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"])
    pos = 0
    total = 0.0
    for match in _GO_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body) or pos == 0:
        raise ValueError(
            f"invalid duration {text!r}: use a Go duration like '10s', '1m30s', '500ms' "
            "or an ISO 8601 duration like 'PT10S'"
        )
    return sign * total


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
