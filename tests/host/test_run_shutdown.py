"""`funchost run` shuts down like daprd next to an app: the sidecar stops dispatching, in-flight
handlers finish (their state saves still reach the sidecar), the sidecar deactivates the active
actors on the still-listening app, the app exits, then the sidecar closes."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from funchost.sidecar import free_port
from tests.host.conftest import SAMPLES
from tests.host.test_cli_processes import _spawn, _wait_invoke

pytestmark = pytest.mark.slow
FOLDER = str(SAMPLES / "shutdown_order")


def _wait_file(path: Path, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_drains_in_daprd_order(tmp_path: Path, sig: signal.Signals) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    argv = ["run", FOLDER, "--port", str(app_port), "--dapr-http-port", str(http_port)]
    argv += ["--dapr-grpc-port", str(grpc_port), "--no-plugins", "--log-level", "info"]
    proc = _spawn(
        argv, tmp_path, env={"SHUTDOWN_TEST_DIR": str(tmp_path), "FUNCHOST_SHUTDOWN_GRACE": "20"}
    )
    app = f"http://127.0.0.1:{app_port}"
    slow: dict[str, httpx.Response | BaseException] = {}
    try:
        _wait_invoke(f"{app}/healthz")
        assert httpx.post(f"{app}/visit/v1", timeout=30).json() == 1  # Visitor v1 is active

        def call_slow() -> None:
            try:
                slow["resp"] = httpx.post(f"{app}/slow/k1", timeout=60)
            except BaseException as exc:  # reported below
                slow["resp"] = exc

        caller = threading.Thread(target=call_slow, daemon=True)
        caller.start()
        _wait_file(tmp_path / "started-k1")
        proc.send_signal(sig)
        # Draining: new requests are refused while the slow one is still running.
        end = time.monotonic() + 20
        while httpx.get(f"{app}/healthz", timeout=5).status_code != 503:
            assert time.monotonic() < end, "the app never started draining"
            time.sleep(0.05)
        assert not (tmp_path / "deactivated-v1").exists()  # actors go after in-flight work
        (tmp_path / "release").write_text("1")
        caller.join(30)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    resp = slow["resp"]
    assert isinstance(resp, httpx.Response), resp
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"read_back": {"saved": True}}  # saved through the sidecar mid-drain
    assert (tmp_path / "deactivated-v1").exists(), out  # deactivated on the listening app
    assert "unreachable" not in out, out
    assert '"level": "warning"' not in out and '"level": "error"' not in out, out
    # a graceful drain exits 0 on SIGTERM as on SIGINT (uvicorn's re-raise is suppressed)
    assert proc.returncode == 0, out
