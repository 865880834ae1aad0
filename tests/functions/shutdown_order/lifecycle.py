"""Shutdown order of `funchost run` (tests/host/test_run_shutdown.py).

`POST /visit/{id}` activates a `Visitor` actor; its deactivate hook writes
`$SHUTDOWN_TEST_DIR/deactivated-{id}`. `POST /slow/{key}` writes `started-{key}`, waits for
`release`, then saves state through the sidecar and answers with what it read back.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dapr.actor import Actor, ActorInterface, actormethod

from funchost import FunctionContext, actor, invoke


def _dir() -> Path:
    return Path(os.environ["SHUTDOWN_TEST_DIR"])


class VisitorInterface(ActorInterface):
    @actormethod(name="Visit")
    async def visit(self, by: int) -> int: ...


@actor
class Visitor(Actor, VisitorInterface):
    async def visit(self, by: int) -> int:
        _, value = await self._state_manager.try_get_state("n")
        total = (value or 0) + by
        await self._state_manager.set_state("n", total)
        await self._state_manager.save_state()
        return total

    async def _on_deactivate(self) -> None:
        (_dir() / f"deactivated-{self.id.id}").write_text("1")


@invoke("visit/{visitor_id}", methods=("POST",))
async def visit(visitor_id: str, ctx: FunctionContext) -> int:
    return await ctx.actor(Visitor, visitor_id).Visit(1)


@invoke("slow/{key}", methods=("POST",))
async def slow(key: str, ctx: FunctionContext) -> dict:
    (_dir() / f"started-{key}").write_text("1")
    while not (_dir() / "release").exists():
        await asyncio.sleep(0.02)
    await ctx.save_state(key, {"saved": True})
    return {"read_back": await ctx.get_state(key)}
