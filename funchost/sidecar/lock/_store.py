"""What every lock store offers: try to acquire with an expiry, release by owner."""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol


class UnlockStatus(IntEnum):
    """`UnlockResponse.Status` (dapr/proto/runtime/v1/lock.proto)."""

    SUCCESS = 0
    LOCK_DOES_NOT_EXIST = 1
    LOCK_BELONGS_TO_OTHERS = 2
    INTERNAL_ERROR = 3


class LockStoreError(Exception):
    """The store could not answer (unreachable server...); the message says the fix."""


class LockStore(Protocol):
    """A lock store backend (one module per component type). Keys arrive already rewritten."""

    async def try_lock(self, key: str, owner: str, expiry_seconds: int) -> bool:
        """Take `key` for `owner` unless someone (even `owner`) holds it; True when taken."""
        ...

    async def unlock(self, key: str, owner: str) -> UnlockStatus:
        """Release `key` if `owner` holds it."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def lock_key(key_prefix: str | None, store: str, app_id: str, resource_id: str) -> str:
    """daprd's `GetModifiedLockKey`: `lock||<prefix>||<resourceId>` per metadata `keyPrefix`."""
    strategy = (key_prefix or "appid").lower()
    if strategy == "appid":
        prefix = app_id
    elif strategy == "name":
        prefix = store
    elif strategy == "none":
        prefix = ""
    else:
        prefix = strategy
    return f"lock||{prefix}||{resource_id}" if prefix else f"lock||{resource_id}"
