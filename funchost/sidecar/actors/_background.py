"""`BackgroundLoop`: one `_loop()` task per service, started once and cancelled on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class BackgroundLoop:
    """Mixin for the reminder and timer services: `start(spawn)` runs `self._loop()` once."""

    _task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, spawn: Callable[[Any], asyncio.Task[Any]]) -> None:
        if self._task is None:
            self._task = spawn(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
