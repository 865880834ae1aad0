"""The host's one module for time formats: Go durations, cron (5/6 fields, descriptors), `@every`.

The decorators validate with it; the sidecar has its own (`funchost.sidecar.timeformats`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from croniter import croniter

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELDS5 = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
)
_FIELDS6 = (("second", "0-59"), *_FIELDS5)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse a Go duration (``"1h30m"``, ``"30s"``, ``"500ms"``, ``"1h0m0s0ms0μs"``) or seconds.

    Raises ``ValueError`` with the accepted forms when the text is not a duration.
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    raw = text.strip()
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        raise ValueError(
            f"'{text}' is not a duration: use Go-style units like '30s', '5m', '1h30m', '500ms'"
        )
    return timedelta(seconds=total)


def _field_error(fields: list[str], names: tuple[tuple[str, str], ...], six: bool) -> str:
    for index, (name, allowed) in enumerate(names):
        probe = ["*"] * len(names)
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe), second_at_beginning=six):
            return f"{name} field '{fields[index]}' is invalid (allowed: {allowed})"
    return "the fields do not form a valid schedule"


def normalize_schedule(schedule: str) -> str:
    """Validate a cron schedule and return it in the form the Dapr Jobs API accepts.

    Accepted: 5-field cron (``"*/5 * * * *"``, returned with a leading ``0`` seconds field),
    6-field cron with seconds first (``"*/10 * * * * *"``), ``"@every 30s"``, and the
    descriptors ``@yearly @annually @monthly @weekly @daily @midnight @hourly``.
    Raises ``ValueError`` saying which part is wrong.
    """
    text = " ".join(schedule.split())
    if not text:
        raise ValueError("cron schedule is empty: use e.g. '*/5 * * * *' or '@every 30s'")
    if text.startswith("@every"):
        rest = text[len("@every") :].strip()
        if not rest:
            raise ValueError("'@every' needs a duration, e.g. '@every 30s'")
        if parse_duration(rest) <= timedelta(0):
            raise ValueError(f"'@every {rest}' must be a positive duration")
        return f"@every {rest}"
    if text.startswith("@"):
        if text not in DESCRIPTORS:
            raise ValueError(
                f"cron schedule '{schedule}' is invalid: unknown descriptor, use one of "
                f"{', '.join(DESCRIPTORS)} or '@every <duration>'"
            )
        return text
    fields = text.split(" ")
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron schedule '{schedule}' is invalid: expected 5 fields "
            "(minute hour day month weekday) or 6 with seconds first, got "
            f"{len(fields)}"
        )
    six = len(fields) == 6
    if not croniter.is_valid(text, second_at_beginning=six):
        names = _FIELDS6 if six else _FIELDS5
        raise ValueError(
            f"cron schedule '{schedule}' is invalid: {_field_error(fields, names, six)}"
        )
    return text if six else f"0 {text}"


def next_fire(schedule: str, after: datetime) -> datetime:
    """Return the first fire time strictly after ``after`` for a normalized schedule."""
    text = normalize_schedule(schedule)
    if text.startswith("@every"):
        return after + parse_duration(text[len("@every") :].strip())
    if text.startswith("@"):
        return croniter(text, after).get_next(datetime)
    return croniter(text, after, second_at_beginning=True).get_next(datetime)
