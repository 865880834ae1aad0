"""`lock.redis`: locks on a real Redis server (components-contrib `lock/redis/standalone.go`).

TryLock is `SET key owner NX PX <expiry>`; Unlock runs components-contrib's Lua script, so
only the owner can delete the key: -1 = no such lock, -2 = someone else's, >= 0 = released.
"""

from __future__ import annotations

from typing import Any

from ..component import Component, ComponentError
from ..state.redis import redis_client
from ._store import LockStoreError, UnlockStatus

# components-contrib lock/redis/standalone.go unlockScript, verbatim
UNLOCK_SCRIPT = (
    'local v = redis.call("get",KEYS[1]); if v==false then return -1 end; '
    'if v~=ARGV[1] then return -2 else return redis.call("del",KEYS[1]) end'
)


class RedisLockStore:
    """Locks as Redis strings holding the owner, expiring with the lock."""

    def __init__(self, comp: Component) -> None:
        if (comp.meta("redisType") or "node").lower() == "cluster":
            raise ComponentError(
                f"{comp.source}: Component {comp.name!r}: spec.metadata.redisType: lock.redis "
                "does not support cluster mode (as daprd): use a single node"
            )
        self.comp = comp
        self.client: Any = redis_client(comp, asyncio=True)
        self._unlock = self.client.register_script(UNLOCK_SCRIPT)

    def _fail(self, exc: Exception) -> LockStoreError:
        host = self.comp.meta("redisHost") or "localhost:6379"
        return LockStoreError(f"Redis at {host} ({self.comp.name}): {exc}")

    async def try_lock(self, key: str, owner: str, expiry_seconds: int) -> bool:
        try:
            return bool(await self.client.set(key, owner, nx=True, px=expiry_seconds * 1000))
        except Exception as exc:
            raise self._fail(exc) from None

    async def unlock(self, key: str, owner: str) -> UnlockStatus:
        try:
            result = int(await self._unlock(keys=[key], args=[owner]))
        except Exception as exc:
            raise self._fail(exc) from None
        if result >= 0:
            return UnlockStatus.SUCCESS
        if result == -1:
            return UnlockStatus.LOCK_DOES_NOT_EXIST
        if result == -2:
            return UnlockStatus.LOCK_BELONGS_TO_OTHERS
        return UnlockStatus.INTERNAL_ERROR

    async def close(self) -> None:
        await self.client.aclose()
