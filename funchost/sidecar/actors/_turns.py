"""One turn at a time per actor, with Dapr reentrancy (same reentrancy id passes)."""

from __future__ import annotations

import asyncio


class StackDepthExceeded(Exception):
    """A reentrant call chain went deeper than `maxStackDepth`."""


class TurnLock:
    """A FIFO lock owned by one call chain (reentrancy id) at a time.

    A call carrying the reentrancy id of the chain that holds the lock enters at once (depth + 1);
    every other call waits for the holder to finish.
    """

    __slots__ = ("_depth", "_lock", "_owner")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: str | None = None
        self._depth = 0

    def locked(self) -> bool:
        return self._lock.locked()

    async def acquire(self, reentrancy_id: str | None = None, max_depth: int | None = None) -> None:
        """Enter a turn; raise StackDepthExceeded when a reentrant chain is too deep."""
        if reentrancy_id is not None and self._depth and self._owner == reentrancy_id:
            if max_depth is not None and self._depth >= max_depth:
                raise StackDepthExceeded(
                    f"maximum stack depth exceeded: reentrant call chain {reentrancy_id} "
                    f"is {self._depth} deep (maxStackDepth {max_depth})"
                )
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner = reentrancy_id
        self._depth = 1

    def release(self) -> None:
        """Leave the turn entered last."""
        self._depth -= 1
        if self._depth <= 0:
            self._depth = 0
            self._owner = None
            self._lock.release()
