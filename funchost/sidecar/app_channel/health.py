"""App health checks (`--enable-app-health-check`), as daprd's `pkg/apphealth`.

Every `app_health_probe_interval` seconds (on the sidecar clock) the channel probes the app
(HTTP: `GET <app_health_path>`, 2xx = healthy; gRPC: `AppCallbackHealthCheck/HealthCheck`, any
error = unhealthy). After `app_health_threshold` failures in a row the app is unhealthy:
`AppChannel.ready` is cleared, so jobs and cron bindings stop firing, pub/sub deliveries wait
and invocations fail with daprd's "app is not in a healthy state"; one successful probe makes it
healthy again.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("funchost.sidecar.app_health")

#: daprd's `ErrAppUnhealthy` message.
APP_UNHEALTHY = "app is not in a healthy state"


async def watch_health(sidecar: Any) -> None:
    """Probe the app forever; flip `sidecar.app.ready` on daprd's thresholds."""
    cfg = sidecar.config
    app = sidecar.app
    clock = sidecar.clock
    failures = 0
    while not sidecar.stopping:
        await clock.sleep_until(clock.time() + cfg.app_health_probe_interval)
        healthy = await app.health_check(cfg.app_health_probe_timeout, cfg.app_health_path)
        if healthy:
            failures = 0
            if not app.ready.is_set():
                log.warning("app is healthy again: resuming deliveries")
                app.ready.set()
                for sub in sidecar.subsystems.values():
                    resume = getattr(sub, "on_app_healthy", None)
                    if resume is not None:
                        resume()
            continue
        failures += 1
        if failures >= cfg.app_health_threshold and app.ready.is_set():
            log.warning(
                "app failed %s health probes in a row: unhealthy, deliveries paused", failures
            )
            app.ready.clear()
