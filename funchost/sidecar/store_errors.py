"""Storage failures as Dapr errors, and waiting for a lock held elsewhere without blocking the loop.

SQLite reports a lock held by another connection (`database is locked`), a full disk or a file
size limit (`database or disk is full`, `disk I/O error`), a read-only file... Each becomes a
`StorageError` (a `DaprApiError`: HTTP 500 + errorCode naming the operation, gRPC INTERNAL, as
daprd reports a failing store) whose message names the store, the cause and what to do.

`patiently(fn)` awaits `fn()` (the async state API) in `store.quick_locks()` mode (a lock held
elsewhere fails after store.LIVE_BUSY_MS) and retries a `database is locked` with `asyncio.sleep`
in between: the event loop stays free (health, reads, other requests) while a write waits for
another process's lock, up to `BUSY_WAIT` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from ._errors import DaprApiError
from .store import quick_locks

T = TypeVar("T")
log = logging.getLogger("funchost.sidecar.store")

BUSY_WAIT = 30.0
"""Seconds a write waits for a lock held by another process before failing."""

_HINTS = {
    "locked": "another process holds the database's write lock; retry, or find it with "
    "`fuser DB` / `funchost db check DB`",
    "busy": "another process holds the database's write lock; retry",
    "full": "the disk (or the file-size limit) is full: free space, then retry; nothing "
    "unacknowledged was kept",
    "disk i/o": "the disk refused a write (full disk, file-size limit or I/O failure): check "
    "free space and the kernel log, then retry",
    "readonly": "the database file is read-only: fix its permissions",
    "malformed": "the database is damaged: stop the app and run `funchost db check DB`",
}


class StorageError(DaprApiError):
    """A storage failure rendered as a Dapr error; `busy` when it is a lock held elsewhere."""

    def __init__(self, error_code: str, message: str, busy: bool) -> None:
        super().__init__(500, error_code, message, grpc.StatusCode.INTERNAL)
        self.busy = busy


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's `database is locked` / `database is busy`."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def storage_error(exc: sqlite3.Error, error_code: str, what: str) -> StorageError:
    """`exc` as a Dapr error: `<what>: <sqlite's cause> (<what to do>)`."""
    cause = str(exc) or type(exc).__name__
    hint = next((h for k, h in _HINTS.items() if k in cause.lower()), "see the sidecar's log")
    return StorageError(error_code, f"{what}: {cause} ({hint})", is_busy(exc))


async def patiently(fn: Callable[[], Awaitable[T]], wait: float = BUSY_WAIT) -> T:
    """`await fn()`, retried while the database is locked by another process (asynchronous
    backoff); `fn` runs in `quick_locks()` mode (a context variable, so only this task's writes)."""
    deadline = time.monotonic() + wait
    delay = 0.01
    while True:
        try:
            with quick_locks():
                return await fn()
        except (StorageError, sqlite3.OperationalError) as exc:
            busy = exc.busy if isinstance(exc, StorageError) else is_busy(exc)
            if not busy or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


def unexpected_error_handlers() -> dict[Any, Any]:
    """Starlette exception handlers: a storage failure or a bug as a Dapr JSON error, never a
    text/plain 500 (ERR_STORAGE / ERR_INTERNAL with the cause)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def storage(request: Request, exc: Exception) -> JSONResponse:
        err = storage_error(
            exc if isinstance(exc, sqlite3.Error) else sqlite3.Error(str(exc)),
            "ERR_STORAGE",
            f"{request.method} {request.url.path}: the sidecar database failed",
        )
        return JSONResponse(err.to_json(), status_code=err.http_status)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        body = {
            "errorCode": "ERR_INTERNAL",
            "message": f"{request.method} {request.url.path}: {type(exc).__name__}: {exc} "
            "(a sidecar bug: see its log)",
        }
        return JSONResponse(body, status_code=500)

    return {sqlite3.Error: storage, Exception: internal}
