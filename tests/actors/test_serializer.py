"""The host's actor serializer: user text that looks like a date or a duration stays text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from _serde_actors import REMINDERS, TIMERS, EchoActor, EchoInterface, Note, Stamp
from dapr.serializers import DefaultJSONSerializer

from funchost import Settings, create_app
from funchost.testing import LocalRuntime
from funchost.wiring._actor_json import FunchostJSONSerializer
from funchost.wiring.actors import actor_proxy

TRICKY: list[Any] = [
    "1h",
    "2024-01-01 standup",
    "30m",
    "2025/01/15",
    {"when": "2024-01-01 standup", "every": "1h", "n": [1, "10s"]},
]


@pytest.mark.parametrize("value", TRICKY)
def test_plain_json_round_trips_verbatim(value: Any) -> None:
    ser = FunchostJSONSerializer()
    assert ser.deserialize(ser.serialize(value)) == value


def test_the_sdk_default_would_mangle_them() -> None:
    """Why the host does not use the SDK default (if this fails, the SDK fixed it)."""
    sdk = DefaultJSONSerializer()
    assert sdk.deserialize(sdk.serialize("1h")) == timedelta(hours=1)
    with pytest.raises(ValueError):  # dateutil cannot parse it, so the message is lost
        sdk.deserialize(sdk.serialize("2024-01-01 standup"))


def test_models_dataclasses_and_durations_serialize() -> None:
    ser = FunchostJSONSerializer()
    assert ser.deserialize(ser.serialize(Note(text="1h"))) == {"text": "1h", "tags": []}
    assert ser.deserialize(ser.serialize(Stamp("x", timedelta(seconds=5)))) == {
        "text": "x",
        "after": "0h0m5s0ms0μs",
    }
    assert ser.deserialize(b'{"text": "1h", "tags": ["a"]}', Note) == Note(text="1h", tags=["a"])


def test_reminder_callback_body_keeps_the_sdk_contract() -> None:
    ser = FunchostJSONSerializer()
    body = ser.deserialize(b'{"data": "MWg=", "dueTime": "0h0m5s0ms0\\u03bcs", "period": ""}')
    assert body == {"data": "MWg=", "dueTime": timedelta(seconds=5), "period": ""}
    other = ser.deserialize(b'{"data": "MWg=", "dueTime": "1h", "who": "me"}')
    assert other["dueTime"] == "1h"  # not a reminder body: verbatim


@pytest.mark.parametrize("client", ["grpc", "http"])
async def test_round_trip_through_an_actor_method_and_state(client: str) -> None:
    """Through both actor clients (FUNCHOST_ACTOR_CLIENT): method args, results, state, reminder."""
    REMINDERS.clear()
    TIMERS.clear()
    app = create_app([EchoActor], Settings(actor_client=client))
    async with LocalRuntime(app=app) as rt:
        proxy = actor_proxy("EchoActor", "e1", EchoInterface)
        for value in TRICKY:
            assert await proxy.Echo(value) == value
        await proxy.Keep(TRICKY[-1])
        assert await rt.actor_state("EchoActor", "e1", "kept") == TRICKY[-1]
        await rt.advance(timedelta(minutes=5))  # idle timeout: deactivated, state reloaded
        assert await proxy.Kept() == TRICKY[-1]
        channel = getattr(app.state, "funchost_actor_channel", None)
        if client == "grpc":  # state went over HTTP: no grpc.aio channel on the app's loop yet
            assert channel is not None and channel._channel is None
        assert await proxy.Tag(Note(text="2024-01-01 standup")) == Note(
            text="2024-01-01 standup", tags=["seen"]
        )
        assert await proxy.Stamp("1h") == {"text": "1h", "after": "1h30m0s0ms0μs"}
        await proxy.Remind(10)
        if client == "grpc":  # reminders take the gRPC API, on a channel opened for them
            assert channel is not None and channel._channel is not None
        await rt.advance(timedelta(seconds=11))
        await proxy.Tick(5)  # timer data comes back as registered (not base64, not a datetime)
        await rt.advance(timedelta(seconds=6))
    assert [("ping", b"1h", timedelta(seconds=10))] == REMINDERS
    assert TIMERS == ["2024-01-01 standup"]
