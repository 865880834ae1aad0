"""`/metrics` stays scrapeable by Prometheus (no token) when the app or the sidecar requires
an API token; everything else stays protected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from funchost import Settings, create_app, discover
from funchost.observability.plugin import RECENT_PATH
from funchost.sidecar.server import SidecarThread

SAMPLE = Path(__file__).parent / "sample" / "functions"


async def test_app_metrics_open_under_app_api_token() -> None:
    app = create_app(
        discover(SAMPLE), Settings(app_api_token="s3cret", workflows=False, schedule_jobs=False)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
        metrics = await c.get("/metrics")
        assert metrics.status_code == 200
        assert "funchost_function_invocations_total" in metrics.text
        assert (await c.get("/healthz")).status_code == 200
        for path in (RECENT_PATH, "/functions", "/dapr/subscribe"):
            assert (await c.get(path)).status_code == 401, path
        ok = await c.get(RECENT_PATH, headers={"dapr-api-token": "s3cret"})
        assert ok.status_code == 200


@pytest.fixture
def guarded_sidecar(start_sidecar: Callable[..., SidecarThread]) -> str:
    thread = start_sidecar(app_id="metrics-auth", api_token="s3cret")
    return thread.sidecar.http_url


def test_sidecar_metrics_open_under_dapr_api_token(guarded_sidecar: str) -> None:
    metrics = httpx.get(f"{guarded_sidecar}/metrics")
    assert metrics.status_code == 200
    assert "funchost_sidecar_pending_deliveries" in metrics.text
    assert httpx.get(f"{guarded_sidecar}/v1.0/metadata").status_code == 401
    assert httpx.get(f"{guarded_sidecar}/v1.0/state/statestore/k").status_code == 401
    token = {"dapr-api-token": "s3cret"}
    assert httpx.get(f"{guarded_sidecar}/v1.0/metadata", headers=token).status_code == 200
