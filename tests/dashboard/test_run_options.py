"""`funchost run` and its dashboard options: a taken port is one warning line, not an error."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from ._support import RunningApp, copy_project, wait_for
from .conftest import ORDERS_APP

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_taken_dashboard_port_warns_and_the_app_runs_on(tmp_path: Path) -> None:
    project = copy_project(tmp_path, ORDERS_APP / "functions", ORDERS_APP / "components")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = RunningApp(project, extra=["--dashboard-port", str(port)])
        try:
            wait_for(lambda: "ready in" in app.output, "funchost run", 90)
            health = wait_for(lambda: httpx.get(f"{app.app_url}/healthz"), "the app", 10)
            assert health.status_code == 200, app.output
            warning = [line for line in app.lines if "warning:" in line and "dashboard" in line]
            assert len(warning) == 1, app.output
            assert f"dashboard port {port} on 127.0.0.1 is not available" in warning[0]
            assert "dashboard: off (port taken)" in app.output
        finally:
            app.stop()


def test_no_dashboard(tmp_path: Path) -> None:
    project = copy_project(tmp_path, ORDERS_APP / "functions", ORDERS_APP / "components")
    app = RunningApp(project, env={"FUNCHOST_DASHBOARD": "0"})
    try:
        wait_for(lambda: "ready in" in app.output, "funchost run", 90)
        assert "dashboard: off" in app.output
        with pytest.raises(httpx.ConnectError):
            httpx.get(app.dashboard_url)
    finally:
        app.stop()
