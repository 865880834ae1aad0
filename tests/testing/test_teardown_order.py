"""`LocalRuntime.stop()` shuts down in daprd order: active actors are deactivated on the app
while it still listens (their hook runs), with no warnings from the sidecar."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from funchost.testing import LocalRuntime

FOLDER = Path(__file__).resolve().parents[1] / "functions" / "shutdown_order"


@pytest.mark.e2e
async def test_stop_deactivates_actors_on_the_listening_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SHUTDOWN_TEST_DIR", str(tmp_path))
    rt = LocalRuntime(FOLDER, app_id="shutdown_order")
    await rt.start()
    try:
        resp = await rt.invoke("visit/v1")
        assert resp.status_code == 200 and resp.json() == 1
    finally:
        with caplog.at_level(logging.WARNING):
            await rt.stop()
    assert (tmp_path / "deactivated-v1").exists()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
