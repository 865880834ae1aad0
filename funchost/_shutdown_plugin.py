"""Built-in plugin wiring graceful shutdown (`funchost.shutdown`) into every app.

- ``funchost_configure_app``: `install_drain` (503 for new requests once draining; in-flight
  HTTP work, i.e. event/binding/job/invoke handlers and actor turns, is tracked). The grace
  period is ``FUNCHOST_SHUTDOWN_GRACE`` seconds (default 25).
- ``funchost_startup``: when draining begins, stop the workflow worker (it stops taking work
  items and finishes the activities in flight) so workflows move to the remaining replicas.

The process-level part is `DrainingServer` (it turns SIGTERM into `Drain.begin()`), used by the
CLI in place of ``uvicorn.run``.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI

from funchost.errors import ConfigError
from funchost.plugins import hookimpl
from funchost.registry import Registry
from funchost.settings import Settings
from funchost.shutdown import DEFAULT_GRACE, get_drain, install_drain

log = logging.getLogger("funchost.shutdown")


def grace_from_env() -> float:
    """``FUNCHOST_SHUTDOWN_GRACE`` (seconds), or the default."""
    raw = os.environ.get("FUNCHOST_SHUTDOWN_GRACE", "").strip()
    if not raw:
        return DEFAULT_GRACE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(
            f"FUNCHOST_SHUTDOWN_GRACE={raw!r} is invalid: use a number of seconds, e.g. 25"
        )
    return value


@hookimpl
def funchost_configure_app(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Track in-flight requests and refuse new ones once the drain begins."""
    if get_drain(app) is None:
        install_drain(app, grace=grace_from_env())


@hookimpl
def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Stop the workflow worker as soon as draining begins."""
    drain = get_drain(app)
    host = getattr(app.state, "funchost", None)
    if drain is None or host is None or not (registry.workflows or registry.activities):
        return

    def stop_workflow_worker() -> None:
        runtime = getattr(host, "workflow_runtime", None)
        if runtime is not None:
            log.info("draining: stopping the workflow worker (in-flight activities finish)")
            runtime.shutdown()

    drain.on_drain(stop_workflow_worker)
