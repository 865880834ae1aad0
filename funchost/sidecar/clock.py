"""The sidecar's one clock: real time in `funchost run`, a virtual clock in tests.

Everything time-driven in the sidecar (delivery retries, reminders, timers, jobs, cron bindings,
workflow timers, idle deactivation) reads `clock.now()` and waits with `clock.sleep_until()`, so a
test can move a `VirtualClock` forward and see every due thing fire, in order, in no wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any


class Clock:
    """Real time. Subclasses override `time()` and the waiting primitives."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    async def sleep_until(self, deadline: float, wake: asyncio.Event | None = None) -> None:
        """Sleep until `deadline` (epoch seconds) or until `wake` is set, whichever comes first."""
        delay = deadline - self.time()
        if wake is None:
            if delay > 0:
                await asyncio.sleep(delay)
            return
        if wake.is_set() or delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep for `seconds` of this clock's time."""
        await self.sleep_until(self.time() + seconds, wake)

    @property
    def is_virtual(self) -> bool:
        return False


class VirtualClock(Clock):
    """A clock that only moves when a test calls `advance()`.

    Sleepers register their deadline; `advance(seconds)` steps time to each registered deadline in
    order (not past the target), wakes the sleepers due at that instant and lets the sidecar settle
    before the next step, so a retry scheduled by a delivery that just fired is itself fired within
    the same `advance()` if it falls before the target.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        self._now = float(start if start is not None else time.time())
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.settle: Callable[[], Awaitable[None]] | None = None

    @property
    def is_virtual(self) -> bool:
        return True

    def time(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float, wake: asyncio.Event | None = None) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        if wake is None:
            await fut
            return
        waiter: asyncio.Future[Any] = asyncio.ensure_future(wake.wait())
        either: set[asyncio.Future[Any]] = {fut, waiter}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not fut.done():
                fut.cancel()

    def next_deadline(self) -> float | None:
        """The earliest deadline anyone is sleeping until, if any."""
        self._prune()
        return self._sleepers[0][0] if self._sleepers else None

    def _prune(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def _settle(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        if self.settle is not None:
            await self.settle()

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing everything due on the way, in order.

        Must be awaited on the event loop the sidecar runs on (LocalRuntime takes care of that).
        """
        target = self._now + max(0.0, float(seconds))
        await self._settle()
        while True:
            self._prune()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            step = self._sleepers[0][0]
            self._now = max(self._now, step)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self._settle()
        self._now = target
        await self._settle()

    async def advance_to(self, when: float | datetime) -> None:
        """Move time forward to an absolute instant (never backwards)."""
        ts = when.timestamp() if isinstance(when, datetime) else float(when)
        await self.advance(max(0.0, ts - self._now))
