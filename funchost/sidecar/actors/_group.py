"""Group commit of actor state transactions on a SQLite state store.

Every state-changing actor call ends with one transaction. The transactions that arrive in the
same loop turn (many actors' calls in flight) are applied in ONE SQLite transaction, and every
caller is answered only after the COMMIT: a saved state is durable before the call's response,
as with one transaction per call. BEGIN/COMMIT and the WAL append are paid once per group. A
group that fails is rolled back and replayed one transaction at a time, so each caller gets the
outcome of its own transaction (actor state operations carry no etags: in practice only a store
error fails one).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from ..store import Store, blocking_locks

log = logging.getLogger("funchost.sidecar.actors")


class _SyncBackend(Protocol):
    store: Store

    def transact(self, ops: list[tuple[str, Any]]) -> None: ...


def sqlite_backend(backend: Any) -> _SyncBackend | None:
    """The synchronous SQLite backend behind a `SyncBackendAdapter`, else None."""
    inner = getattr(backend, "backend", None)
    if isinstance(getattr(inner, "store", None), Store) and callable(
        getattr(inner, "transact", None)
    ):
        return inner  # type: ignore[no-any-return]
    return None


class GroupCommit:
    """Queues transactions and applies them together in the next loop turn."""

    def __init__(self, backend: _SyncBackend) -> None:
        self.backend = backend
        self._pending: list[tuple[list[tuple[str, Any]], asyncio.Future[None]]] = []

    async def transact(self, ops: list[tuple[str, Any]]) -> None:
        """Apply `ops` all-or-nothing; return once committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self.flush)
        self._pending.append((ops, fut))
        await fut

    def flush(self) -> None:
        """Apply every queued transaction in one SQLite transaction, then answer the callers.

        Should the group fail (a store error), it is rolled back whole and each transaction is
        applied again in a transaction of its own, so one failing transaction fails alone.
        """
        batch, self._pending = self._pending, []
        with blocking_locks():
            if len(batch) > 1:
                try:
                    with self.backend.store.tx():
                        for ops, _fut in batch:
                            self.backend.transact(ops)  # joins the group's transaction
                except Exception as exc:
                    log.warning(
                        "group commit of %d actor state transactions failed (%s): "
                        "applying them one by one",
                        len(batch),
                        exc,
                    )
                else:
                    for _ops, fut in batch:
                        _answer(fut, None)
                    return
            for ops, fut in batch:
                try:
                    self.backend.transact(ops)
                except Exception as exc:
                    _answer(fut, exc)
                else:
                    _answer(fut, None)


def _answer(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():  # the caller was cancelled meanwhile
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
