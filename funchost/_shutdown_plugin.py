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
from typing import TYPE_CHECKING

from funchost.plugins import hookimpl

if TYPE_CHECKING:  # the hooks run only when an app is built; `funchost list` needs neither
    from fastapi import FastAPI

    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.shutdown")


@hookimpl
def funchost_configure_app(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Track in-flight requests and refuse new ones once the drain begins."""
    from funchost.shutdown import get_drain, install_drain

    if get_drain(app) is None:
        install_drain(app)


@hookimpl
def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Stop the workflow worker as soon as draining begins."""
    from funchost.shutdown import get_drain

    drain = get_drain(app)
    host = getattr(app.state, "funchost", None)
    if drain is None or host is None or not (registry.workflows or registry.activities):
        return

    def stop_workflow_worker() -> None:
        runtime = getattr(host, "workflow_runtime", None)
        if runtime is not None:
            from funchost.wiring.workflows import stop_runtime

            log.info("draining: stopping the workflow worker (in-flight activities finish)")
            stop_runtime(runtime)

    drain.on_drain(stop_workflow_worker)
