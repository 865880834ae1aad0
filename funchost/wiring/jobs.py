"""@cron wiring through the Dapr Jobs API: schedule on start-up, handle ``POST /job/<name>``.

Every non-per-replica cron is scheduled with ``overwrite=True`` once the sidecar is healthy,
so a tick fires once across all replicas. Per-replica crons are input bindings
(``bindings.cron``), wired by `funchost.wiring.bindings`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from funchost.plugins import hookimpl
from funchost.wiring._common import host_of
from funchost.wiring.bindings import delivery_endpoint

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost._host import Host
    from funchost.registry import Registry
    from funchost.settings import Settings

log = logging.getLogger("funchost.jobs")


@hookimpl
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Add ``POST /job/<name>`` for every cluster-wide cron."""
    host = host_of(app)
    for definition in registry.crons:
        if not definition.per_replica:
            app.add_route(
                definition.route,
                delivery_endpoint(host, definition),
                methods=["POST"],
                include_in_schema=False,
            )


async def schedule_jobs(host: Host) -> list[str]:
    """Schedule every cluster-wide cron as a Dapr job (overwrite); return the names."""
    from dapr.aio.clients import Job

    crons = [c for c in host.registry.crons if not c.per_replica]
    if not crons:
        return []
    if not await host.ready():
        log.error("sidecar not healthy: cron jobs %s were not scheduled", [c.name for c in crons])
        return []
    client = await host.client()
    done = []
    for cron in crons:
        for attempt in range(5):
            try:
                await client.schedule_job(Job(name=cron.name, schedule=cron.job_schedule), True)
                done.append(cron.name)
                break
            except Exception as exc:
                code = getattr(exc, "code", None)
                reason = getattr(exc, "details", None)
                text = reason() if callable(reason) else str(exc)
                if callable(code) and getattr(code(), "name", "") == "UNIMPLEMENTED":
                    log.error(
                        "job %s not scheduled: the sidecar has no Jobs API (%s)", cron.name, text
                    )
                    break
                log.warning("scheduling job %s failed (try %d): %s", cron.name, attempt + 1, text)
                await asyncio.sleep(0.5 * (attempt + 1))
    log.info("scheduled jobs: %s", done)
    return done


@hookimpl
def funchost_startup(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Schedule the jobs in the background once the sidecar answers."""
    host = host_of(app)
    if settings.schedule_jobs and any(not c.per_replica for c in registry.crons):
        host.spawn(schedule_jobs(host))
