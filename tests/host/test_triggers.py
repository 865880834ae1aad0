"""Decorators: frozen definitions, bare and with arguments, validation at decoration time."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from dapr.actor import Actor, ActorInterface, actormethod

from funchost import activity, actor, binding, cron, invoke, topic, workflow
from funchost.errors import DefinitionError
from funchost.timeformats import next_fire, normalize_schedule, parse_duration
from funchost.triggers import CronDef, TopicDef, definitions_of


def test_topic_definition_is_frozen_and_function_unchanged() -> None:
    async def handler(order: dict) -> None: ...

    result = topic(
        "pubsub",
        "orders",
        match="event.type == 'x'",
        dead_letter_topic="dlq",
        metadata={"rawPayload": "true"},
    )(handler)
    assert result is handler
    (d,) = definitions_of(handler)
    assert isinstance(d, TopicDef)
    assert (d.pubsub, d.topic, d.match, d.dead_letter_topic) == (
        "pubsub",
        "orders",
        "event.type == 'x'",
        "dlq",
    )
    assert dict(d.metadata) == {"rawPayload": "true"}
    assert d.route == "/events/pubsub/orders/handler"
    assert d.file.endswith("test_triggers.py") and d.line > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.topic = "other"  # type: ignore[misc]


def test_stacked_decorators_append() -> None:
    @binding("queue")
    @invoke("work")
    def work(payload: dict) -> None: ...

    assert [d.kind for d in definitions_of(work)] == ["invoke", "binding"]


def test_bare_and_called_forms() -> None:
    @binding
    def queue(data: bytes) -> None: ...

    @invoke
    def hello() -> str: ...

    @workflow
    def flow(ctx, value): ...

    @activity(name="act")
    def step(ctx, value): ...

    @workflow("named")
    def flow2(ctx, value): ...

    assert definitions_of(queue)[0].route == "/queue"
    assert definitions_of(hello)[0].methods == ("POST",)
    assert definitions_of(flow)[0].name == "flow"
    assert definitions_of(step)[0].name == "act"
    assert definitions_of(flow2)[0].name == "named"


@pytest.mark.parametrize(
    ("schedule", "normalized"),
    [
        ("*/5 * * * *", "0 */5 * * * *"),
        ("*/10 * * * * *", "*/10 * * * * *"),
        ("@every 30s", "@every 30s"),
        ("@every 1h30m", "@every 1h30m"),
        ("@hourly", "@hourly"),
        ("@daily", "@daily"),
        ("0 9 * * MON-FRI", "0 0 9 * * MON-FRI"),
    ],
)
def test_cron_forms(schedule: str, normalized: str) -> None:
    @cron(schedule)
    def tick() -> None: ...

    (d,) = definitions_of(tick)
    assert isinstance(d, CronDef)
    assert d.job_schedule == normalized == normalize_schedule(schedule)
    assert d.route == "/job/tick"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("61 * * * *", "minute field '61' is invalid (allowed: 0-59)"),
        ("* 25 * * *", "hour field '25' is invalid"),
        ("* * *", "expected 5 fields"),
        ("@every", "needs a duration"),
        ("@every 10x", "is not a duration"),
        ("@fortnightly", "unknown descriptor"),
        ("61 * * * * *", "second field '61' is invalid"),
    ],
)
def test_bad_cron_names_file_line_and_reason(schedule: str, message: str) -> None:
    def tick() -> None: ...

    with pytest.raises(DefinitionError) as info:
        cron(schedule)(tick)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{__file__}:")


def test_per_replica_cron_is_a_binding_route() -> None:
    @cron("@every 1m", name="beat", per_replica=True)
    def tick() -> None: ...

    assert definitions_of(tick)[0].route == "/beat"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: topic("pub sub", "t")(f), "pub/sub name 'pub sub' is invalid"),
        (lambda f: topic("p", "t", match="event.type ==")(f), "match expression"),
        (lambda f: topic("p", "t", metadata={"rawPayload": True})(f), "write booleans as 'true'"),
        (lambda f: topic("p", "t", rules=[("x")])(f), "rules must be (match, path) pairs"),
        (lambda f: invoke("tasks/{id}")(f), "path parameter(s) ['id']"),
        (lambda f: invoke("x", methods=("FETCH",))(f), "methods ['FETCH'] invalid"),
    ],
)
def test_invalid_arguments_raise_at_decoration(make, message: str) -> None:
    def handler(payload: dict) -> None: ...

    with pytest.raises(DefinitionError) as info:
        make(handler)
    assert message in str(info.value)


def test_bare_topic_and_cron_explain_usage() -> None:
    with pytest.raises(DefinitionError, match="@topic needs arguments"):
        topic(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="@cron needs arguments"):
        cron(lambda: None)  # type: ignore[arg-type]


class _Iface(ActorInterface):
    @actormethod(name="Go")
    async def go(self) -> None: ...


def test_actor_definition_and_validation() -> None:
    @actor(idle_timeout="1h", reentrancy=True, max_stack_depth=8)
    class Runner(Actor, _Iface):
        async def go(self) -> None: ...

    (d,) = definitions_of(Runner)
    assert d.actor_type == "Runner"
    assert d.idle_timeout == timedelta(hours=1)
    assert d.reentrancy and d.max_stack_depth == 8

    with pytest.raises(DefinitionError, match="Actor subclass"):
        actor(type("NotActor", (), {}))
    with pytest.raises(DefinitionError, match="implements no ActorInterface"):
        actor(type("Bare", (Actor,), {}))
    with pytest.raises(DefinitionError, match="idle_timeout"):
        actor(idle_timeout="soon")(type("Other", (Actor, _Iface), {}))


def test_durations_and_next_fire() -> None:
    from datetime import UTC, datetime

    assert parse_duration("1h0m0s0ms0μs") == timedelta(hours=1)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    start = datetime(2024, 1, 1, 0, 0, 7, tzinfo=UTC)
    assert next_fire("*/5 * * * *", start) == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert next_fire("*/10 * * * * *", start) == datetime(2024, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert next_fire("@every 30s", start) == start + timedelta(seconds=30)
