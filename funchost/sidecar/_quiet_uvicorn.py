"""Keep the sidecar's uvicorn from repeating the app's start/stop lines.

`funchost run` serves the app and the sidecar's HTTP API with uvicorn in one process; both log
"Started server process", "Shutting down", "Finished server process"... on the shared
``uvicorn.error`` logger, so each line appeared twice. The sidecar's server task runs with
`SIDECAR_SERVER` set; its info lines are dropped, its warnings and errors kept.
"""

from __future__ import annotations

import contextvars
import logging

__all__ = ["SIDECAR_SERVER", "quiet_sidecar_uvicorn"]

#: True inside the sidecar's uvicorn task (asyncio tasks copy the context they start in).
SIDECAR_SERVER: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "funchost_sidecar_server", default=False
)


class _DropSidecarInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not SIDECAR_SERVER.get()


_FILTER = _DropSidecarInfo()


def quiet_sidecar_uvicorn() -> None:
    """Install the filter on ``uvicorn.error`` (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
