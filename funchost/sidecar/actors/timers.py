"""Actor timers: in memory only (lost on restart and on deactivation), like daprd.

Delivery: `PUT /actors/{type}/{id}/method/timer/{name}` with `{"callback", "data", "dueTime",
"period"}` inside the actor's turn. A failed delivery is logged; the timer keeps its period.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..app_channel import AppResponse, AppUnavailable
from ..clock import Clock
from ..timeformats import Period, parse_actor_times
from ._background import BackgroundLoop

log = logging.getLogger("funchost.sidecar.actors")

Key = tuple[str, str, str]
Deliver = Callable[[str, str, str, bytes], Awaitable[AppResponse]]


@dataclass
class Timer:
    """A registered timer."""

    key: Key
    body: bytes
    next_due: float
    period: Period | None
    expires: float | None
    remaining: int | None
    generation: int = field(default=0)


class TimerService(BackgroundLoop):
    """Schedules and fires the timers of active actors."""

    def __init__(self, clock: Clock, deliver: Deliver) -> None:
        self.clock = clock
        self.deliver = deliver
        self.timers: dict[Key, Timer] = {}
        self._wake = asyncio.Event()
        self._firing: set[Key] = set()
        self._gen = 0

    def register(self, actor_type: str, actor_id: str, name: str, body: dict[str, Any]) -> None:
        """Create or replace a timer; raises DurationError on a bad dueTime/period/ttl."""
        sched = parse_actor_times(body, self.clock.time())
        doc: dict[str, Any] = {
            "callback": body.get("callback") or "",
            "data": body.get("data"),
            "dueTime": sched.due_time,
            "period": sched.period_text,
        }
        if sched.ttl:
            doc["ttl"] = sched.ttl
        self._gen += 1
        key = (actor_type, actor_id, name)
        self.timers[key] = Timer(
            key,
            json.dumps(doc, separators=(",", ":")).encode(),
            sched.due,
            sched.period,
            sched.expires,
            sched.repeats,
            self._gen,
        )
        self._wake.set()

    def delete(self, actor_type: str, actor_id: str, name: str) -> None:
        self.timers.pop((actor_type, actor_id, name), None)

    def drop_actor(self, actor_type: str, actor_id: str) -> None:
        """Forget every timer of a deactivated actor."""
        for key in [k for k in self.timers if k[0] == actor_type and k[1] == actor_id]:
            del self.timers[key]

    def busy(self) -> bool:
        if self._firing:
            return True
        now = self.clock.time()
        return any(t.next_due <= now for t in self.timers.values())

    async def _loop(self) -> None:
        spawn = asyncio.get_running_loop().create_task
        tasks: set[asyncio.Task[None]] = set()
        while True:
            self._wake.clear()
            now = self.clock.time()
            nxt: float | None = None
            for timer in list(self.timers.values()):
                if timer.key in self._firing:
                    continue
                if timer.next_due <= now:
                    self._firing.add(timer.key)
                    task = spawn(self._fire(timer))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif nxt is None or timer.next_due < nxt:
                    nxt = timer.next_due
            await self.clock.sleep_until(nxt if nxt is not None else now + 3600, wake=self._wake)

    async def _fire(self, timer: Timer) -> None:
        actor_type, actor_id, name = timer.key
        try:
            if timer.expires is None or self.clock.time() < timer.expires:
                try:
                    resp = await self.deliver(actor_type, actor_id, name, timer.body)
                    if resp.status >= 300:
                        log.warning(
                            "timer %s on actor %s/%s: app answered %s: %s",
                            name,
                            actor_type,
                            actor_id,
                            resp.status,
                            resp.body[:200],
                        )
                except AppUnavailable as exc:
                    log.warning("timer %s on actor %s/%s: %s", name, actor_type, actor_id, exc)
            current = self.timers.get(timer.key)
            if current is None or current.generation != timer.generation:
                return
            remaining = timer.remaining - 1 if timer.remaining is not None else None
            if timer.period is None or (remaining is not None and remaining <= 0):
                del self.timers[timer.key]
                return
            nxt = timer.period.first_after(timer.next_due, self.clock.time())
            if timer.expires is not None and nxt >= timer.expires:
                del self.timers[timer.key]
                return
            timer.next_due = nxt
            timer.remaining = remaining
        finally:
            self._firing.discard(timer.key)
            self._wake.set()
