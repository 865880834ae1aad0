"""@actor types for the serializer tests (no `from __future__ import annotations`: the SDK reads
the method annotations as classes to pick the argument and return types)."""

import dataclasses
from datetime import timedelta
from typing import Any

from dapr.actor import Actor, ActorInterface, Remindable, actormethod
from pydantic import BaseModel

from funchost import actor

REMINDERS: list[tuple[str, Any, Any]] = []
TIMERS: list[Any] = []


class Note(BaseModel):
    """A pydantic document crossing the actor boundary."""

    text: str
    tags: list[str] = []


@dataclasses.dataclass
class Stamp:
    text: str
    after: timedelta


class EchoInterface(ActorInterface):
    @actormethod(name="Echo")
    async def echo(self, value: object) -> object: ...

    @actormethod(name="Keep")
    async def keep(self, value: object) -> None: ...

    @actormethod(name="Kept")
    async def kept(self) -> object: ...

    @actormethod(name="Tag")
    async def tag(self, note: Note) -> Note: ...

    @actormethod(name="Stamp")
    async def stamp(self, text: str) -> object: ...

    @actormethod(name="Remind")
    async def remind(self, seconds: int) -> None: ...

    @actormethod(name="Tick")
    async def tick(self, seconds: int) -> None: ...


@actor(idle_timeout="1m")
class EchoActor(Actor, EchoInterface, Remindable):
    """Returns and stores what it is given, verbatim."""

    async def echo(self, value: object) -> object:
        return value

    async def keep(self, value: object) -> None:
        await self._state_manager.set_state("kept", value)
        await self._state_manager.save_state()

    async def kept(self) -> object:
        found, value = await self._state_manager.try_get_state("kept")
        return value if found else None

    async def tag(self, note: Note) -> Note:
        if not isinstance(note, Note):  # the serializer validated the argument into the model
            raise TypeError(f"expected a Note, got {type(note).__name__}")
        return Note(text=note.text, tags=[*note.tags, "seen"])

    async def stamp(self, text: str) -> object:
        return Stamp(text, timedelta(minutes=90))

    async def remind(self, seconds: int) -> None:
        await self.register_reminder(
            "ping", b"1h", timedelta(seconds=seconds), timedelta(seconds=0)
        )

    async def tick(self, seconds: int) -> None:
        await self.register_timer(
            "tick", self.on_tick, "2024-01-01 standup", timedelta(seconds=seconds), timedelta(0)
        )

    async def on_tick(self, data: Any) -> None:
        TIMERS.append(data)

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        REMINDERS.append((name, state, due_time))
