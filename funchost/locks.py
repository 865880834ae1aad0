"""`ctx.lock(store, resource, expiry=...)`: a Dapr distributed lock as an async context manager.

    async with ctx.lock("lockstore", f"order-{order_id}", expiry=30):
        ...  # only one holder across every replica

Entering calls `TryLockAlpha1` (retrying with backoff for up to ``wait`` seconds); when the lock
stays taken it raises `LockNotAcquired`. Leaving calls `UnlockAlpha1`; a lock that expired while
held (the block outlived ``expiry``) is logged as a warning, since another owner may have run.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import warnings
from types import TracebackType
from typing import Any

from funchost.errors import FunchostError

__all__ = ["DistributedLock", "LockNotAcquired"]

log = logging.getLogger("funchost.locks")


class LockNotAcquired(FunchostError):
    """`ctx.lock(...)` found the resource held by another owner (after waiting, if asked)."""


_ALPHA_WARNING = "The Distributed Lock API"  # the SDK warns on every call


class DistributedLock:
    """One acquisition of ``resource`` in lock store ``store`` (use with ``async with``)."""

    def __init__(
        self,
        host: Any,
        store: str,
        resource: str,
        *,
        expiry: int,
        owner: str | None = None,
        wait: float = 0.0,
    ) -> None:
        if int(expiry) < 1:
            raise FunchostError(
                f"ctx.lock({store!r}, {resource!r}): expiry={expiry} must be at least 1 second"
            )
        self.host = host
        self.store = store
        self.resource = resource
        self.expiry = int(expiry)
        self.owner = owner or f"{host.settings.app_id or 'funchost'}-{uuid.uuid4().hex}"
        self.wait = max(0.0, float(wait))

    async def acquire(self) -> None:
        """Take the lock, retrying for up to ``wait`` seconds; `LockNotAcquired` otherwise."""
        client = await self.host.client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        delay = 0.01
        while True:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", _ALPHA_WARNING)
                resp = await client.try_lock(self.store, self.resource, self.owner, self.expiry)
            if resp.success:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                waited = f" after waiting {self.wait:g}s" if self.wait else ""
                raise LockNotAcquired(
                    f"lock {self.resource!r} in lock store {self.store!r} is held by another "
                    f"owner{waited}: retry later, or pass wait=<seconds> to ctx.lock(...)"
                )
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)

    async def release(self) -> None:
        """Give the lock back; warn when it had already expired or been taken."""
        client = await self.host.client()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _ALPHA_WARNING)
            resp = await client.unlock(self.store, self.resource, self.owner)
        status = getattr(resp.status, "name", str(resp.status))
        if status.lower() != "success":
            log.warning(
                "lock %r in lock store %r was no longer held by %s at release (%s): the block "
                "outlived expiry=%ss; raise expiry",
                self.resource,
                self.store,
                self.owner,
                status,
                self.expiry,
            )

    async def __aenter__(self) -> DistributedLock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
