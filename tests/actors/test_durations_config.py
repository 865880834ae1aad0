"""Table tests: Dapr's duration/time formats and the /dapr/config document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from dapr.actor.runtime.config import ActorReentrancyConfig, ActorRuntimeConfig, ActorTypeConfig
from dapr.serializers import DefaultJSONSerializer

from funchost.sidecar.actors import parse_config
from funchost.sidecar.timeformats import (
    DurationError,
    Period,
    parse_due_time,
    parse_go_duration,
    parse_period,
    parse_ttl,
)

NOW = datetime(2030, 1, 31, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h0m0s0ms0μs", 3600),
        ("0h0m10s0ms0μs", 10),
        ("0h0m0s250ms0μs", 0.25),
        ("0h0m0s0ms500μs", 0.0005),
        ("1.5s", 1.5),
        ("300ms", 0.3),
        ("2h45m", 9900),
        ("1m30s", 90),
        ("10us", 0.00001),
        ("5µs", 0.000005),
        ("100ns", 1e-7),
        ("-1s", -1),
        ("0", 0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1d", "h", "1h x", "PT1S"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_go_duration(text)


def test_sdk_writes_durations_we_parse() -> None:
    """What the SDK's serializer emits for a timedelta round-trips through our parser."""
    for td in (timedelta(hours=1), timedelta(seconds=30), timedelta(milliseconds=1500)):
        text = json.loads(DefaultJSONSerializer().serialize(td))
        assert parse_go_duration(text) == pytest.approx(td.total_seconds())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("0h0m0s0ms0μs", None),
        ("10s", Period(10)),
        ("PT10S", Period(10)),
        ("PT1M30S", Period(90)),
        ("P1DT2H", Period(93600)),
        ("P2W", Period(14 * 86400)),
        ("R5/PT10S", Period(10, repeats=5)),
        ("R1/1m", None),  # not ISO after R: invalid, checked below
        ("P1M", Period(0, 0, 1)),
        ("P1Y", Period(0, 1, 0)),
    ],
)
def test_periods(text: str, expected: Period | None) -> None:
    if text == "R1/1m":
        with pytest.raises(DurationError):
            parse_period(text)
        return
    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["R0/PT1S", "R2/PT0S", "-5s", "every minute"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(DurationError):
        parse_period(text)


def test_calendar_month_period_steps_with_the_calendar() -> None:
    # Jan 31 + 1 month = Feb 28 (2030 is not a leap year), as Go's AddDate would normalise.
    nxt = parse_period("P1M").add_to(NOW)  # type: ignore[union-attr]
    assert datetime.fromtimestamp(nxt, UTC).month in (2, 3)


def test_first_after_skips_missed_ticks() -> None:
    p = Period(10)
    assert p.first_after(100, 105) == 110
    assert p.first_after(100, 155) == 160
    assert p.first_after(100, 160) == 170


@pytest.mark.parametrize(
    ("text", "offset"),
    [("", 0), ("10s", 10), ("PT1H", 3600), ("0h0m5s0ms0μs", 5), ("-3s", 0)],
)
def test_due_times(text: str, offset: float) -> None:
    assert parse_due_time(text, NOW) == pytest.approx(NOW + offset)


def test_due_time_rfc3339_and_errors() -> None:
    assert (
        parse_due_time("2030-02-01T00:00:00Z", NOW) == datetime(2030, 2, 1, tzinfo=UTC).timestamp()
    )
    with pytest.raises(DurationError):
        parse_due_time("tomorrow", NOW)


def test_ttls() -> None:
    assert parse_ttl("", NOW) is None
    assert parse_ttl("10s", NOW + 5) == pytest.approx(NOW + 15)  # counts from the due time
    assert parse_ttl("PT1M", NOW) == pytest.approx(NOW + 60)
    assert parse_ttl("2030-02-01T00:00:00Z", NOW) == datetime(2030, 2, 1, tzinfo=UTC).timestamp()
    with pytest.raises(DurationError):
        parse_ttl("2020-01-01T00:00:00Z", NOW)  # expires before the first fire
    with pytest.raises(DurationError):
        parse_ttl("R2/PT1S", NOW)


def test_config_from_the_sdk_document() -> None:
    """Parse exactly what `DaprActor`'s GET /dapr/config serves."""
    cfg = ActorRuntimeConfig(
        actor_idle_timeout=timedelta(minutes=5),
        actor_scan_interval=timedelta(seconds=10),
        drain_ongoing_call_timeout=timedelta(seconds=20),
        reentrancy=ActorReentrancyConfig(enabled=True, maxStackDepth=7),
        actor_type_configs=[
            ActorTypeConfig("Slow", actor_idle_timeout=timedelta(hours=2), reentrancy=None)
        ],
    )
    cfg.update_entities(["Fast", "Slow"])
    raw = json.loads(DefaultJSONSerializer().serialize(cfg))  # the JSON the sidecar reads
    parsed = parse_config(raw)
    assert parsed.entities == ["Fast", "Slow"]
    fast, slow = parsed.types["Fast"], parsed.types["Slow"]
    assert (fast.idle_timeout, fast.scan_interval, fast.drain_timeout) == (300, 10, 20)
    assert fast.reentrancy and fast.max_stack_depth == 7
    assert slow.idle_timeout == 7200 and slow.reentrancy  # inherits reentrancy
    assert parsed.scan_interval == 10


def test_config_without_actors() -> None:
    assert parse_config(None).types == {}
    assert parse_config({"entities": []}).entities == []
