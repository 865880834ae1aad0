"""Lock store backends: one Protocol, an in-process store and Redis (components-contrib's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..component import Component

# UnlockResponse.Status (dapr/proto/runtime/v1/dapr.proto)
SUCCESS, LOCK_DOES_NOT_EXIST, LOCK_BELONGS_TO_OTHERS, INTERNAL_ERROR = 0, 1, 2, 3


class LockBackend(Protocol):
    """A distributed lock store (`lock.*` component)."""

    async def try_lock(self, key: str, owner: str, expiry_seconds: int) -> bool:
        """Take `key` for `owner` for `expiry_seconds`; False when someone holds it."""

    async def unlock(self, key: str, owner: str) -> int:
        """Release `key` held by `owner`; an UnlockResponse status."""

    async def close(self) -> None:
        """Release connections."""


class MemoryLock:
    """`lock.in-memory`: locks held in the sidecar process, expiring on the sidecar clock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.held: dict[str, tuple[str, float]] = {}

    def _current(self, key: str) -> str | None:
        entry = self.held.get(key)
        if entry is None:
            return None
        if entry[1] <= self.now():
            del self.held[key]
            return None
        return entry[0]

    async def try_lock(self, key: str, owner: str, expiry_seconds: int) -> bool:
        if self._current(key) is not None:
            return False
        self.held[key] = (owner, self.now() + expiry_seconds)
        return True

    async def unlock(self, key: str, owner: str) -> int:
        holder = self._current(key)
        if holder is None:
            return LOCK_DOES_NOT_EXIST
        if holder != owner:
            return LOCK_BELONGS_TO_OTHERS
        del self.held[key]
        return SUCCESS

    async def close(self) -> None:
        return None


# components-contrib lock/redis/standalone_redis_lock.go: compare-and-delete in one script
_UNLOCK = """
local v = redis.call("get", KEYS[1])
if v == false then return -1 end
if v ~= ARGV[1] then return -2 end
return redis.call("del", KEYS[1])
"""


class RedisLock:
    """`lock.redis`: `SET key owner NX EX expiry`, released by a compare-and-delete script."""

    def __init__(self, comp: Component) -> None:
        from ..state.redis import redis_client

        self.client: Any = redis_client(comp, asyncio=True)

    async def try_lock(self, key: str, owner: str, expiry_seconds: int) -> bool:
        return bool(await self.client.set(key, owner, nx=True, ex=expiry_seconds))

    async def unlock(self, key: str, owner: str) -> int:
        code = int(await self.client.eval(_UNLOCK, 1, key, owner))
        return {-1: LOCK_DOES_NOT_EXIST, -2: LOCK_BELONGS_TO_OTHERS, 1: SUCCESS}.get(
            code, INTERNAL_ERROR
        )

    async def close(self) -> None:
        await self.client.aclose()
