"""Schedules as Dapr writes them (cron binding, Jobs API): cron with optional seconds, `@every`.

Forms: `@every 10s` / `@every 1m30s` (Go durations, anchored at the start instant), the
descriptors `@yearly @annually @monthly @weekly @daily @midnight @hourly`, 5-field cron
(minute first) and 6-field cron with seconds FIRST (as robfig/cron and the Dapr scheduler read it).
Times are UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from ._durations import parse_duration

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
    """A parsed schedule; `next_after(ts, anchor)` gives the next fire time (epoch seconds)."""

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
