"""A functions folder hosting the `Counter` actor, for the cross-app actor test.

Reminders append `<APP_ID> <actor id> <reminder name>` to the file $ACTOR_RECORD, so the test
sees in which app they fire. (No `from __future__ import annotations`: the SDK reads the
annotations as classes.)
"""

import os
from datetime import timedelta
from pathlib import Path

from dapr.actor import Actor, ActorInterface, Remindable, actormethod

from funchost import actor


class CounterInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> dict: ...

    @actormethod(name="Remind")
    async def remind(self, name: str) -> None: ...


@actor
class Counter(Actor, CounterInterface, Remindable):
    """Adds to a total kept in actor state; can set a one-shot reminder on itself."""

    async def add(self, n: int) -> dict:
        found, total = await self._state_manager.try_get_state("total")
        total = (total if found else 0) + n
        await self._state_manager.set_state("total", total)
        await self._state_manager.save_state()
        return {"app": os.environ.get("APP_ID", ""), "total": total}

    async def remind(self, name: str) -> None:
        await self.register_reminder(name, b"", timedelta(seconds=0), timedelta(seconds=0))

    async def receive_reminder(
        self, name: str, state: bytes, due_time: timedelta, period: timedelta, ttl=None
    ) -> None:
        line = f"{os.environ.get('APP_ID', '')} {self.id.id} {name}\n"
        with Path(os.environ["ACTOR_RECORD"]).open("a") as fh:
            fh.write(line)
        await self.unregister_reminder(name)
