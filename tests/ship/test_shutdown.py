"""Graceful shutdown: SIGTERM mid-request drains in-flight work, refuses new work, then exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from funchost.shutdown import Drain, Draining, install_drain
from funchost.sidecar import free_port

HERE = Path(__file__).parent


def test_drain_counts_refuses_and_waits() -> None:
    drain = Drain(grace=5)
    with drain.track("http"):
        assert drain.in_flight == 1 and drain.snapshot() == {"http": 1}
        assert drain.wait_sync(0) is False
    assert drain.in_flight == 0 and drain.wait_sync(0) is True

    stopped: list[str] = []
    drain.on_drain(lambda: stopped.append("workflow worker"))
    activity = drain.wrap(lambda x: x * 2, kind="activity")
    release = threading.Event()
    inside = threading.Event()

    def long_turn() -> None:
        with drain.track("actor"):
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=long_turn)
    worker.start()
    inside.wait(5)
    drain.begin()
    assert drain.draining
    with pytest.raises(Draining), drain.track("http"):
        pass
    assert activity(21) == 42  # work belonging to accepted work is counted, never refused
    assert drain.wait_sync(0.05) is False  # the actor turn is still running
    release.set()
    assert drain.wait_sync(5) is True
    worker.join()
    assert stopped == ["workflow worker"]


async def test_async_wrap_and_wait() -> None:
    drain = Drain()

    @drain.wrap
    async def act() -> str:
        await asyncio.sleep(0)
        return "done"

    assert await act() == "done"
    drain.begin()
    assert await drain.wait(1) is True


def test_middleware_refuses_with_503_after_begin() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    drain = install_drain(app, grace=1)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        drain.begin()
        refused = client.get("/healthz")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["errorCode"] == "ERR_APP_DRAINING"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["installed", "wrapped"])
def test_sigterm_mid_request_drains_then_exits(tmp_path: Path, mode: str) -> None:
    port = free_port()
    grace = 30.0
    argv = [sys.executable, str(HERE / "_drain_app.py"), str(port), str(grace), str(tmp_path), mode]
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "FUNCHOST_SHUTDOWN_GRACE": str(grace)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ok(f"{base}/fast", proc)
        result: dict[str, object] = {}

        def slow_call() -> None:
            try:
                response = httpx.get(f"{base}/slow", timeout=60)
                result["status"], result["body"] = response.status_code, response.json()
            except Exception as exc:  # reported by the assertion below
                result["error"] = repr(exc)

        caller = threading.Thread(target=slow_call)
        caller.start()
        _wait_for(lambda: (tmp_path / "started").exists(), "the slow request to start")

        proc.send_signal(signal.SIGTERM)
        # New work is refused (503) while the slow request is still in flight.
        refused = _wait_for(lambda: _status(f"{base}/fast") == 503, "new requests to get 503")
        assert refused
        assert _status(f"{base}/healthz") == 503  # daprd's app health check sees it too
        assert proc.poll() is None, "exited before the in-flight request finished"

        (tmp_path / "release").write_text("1")
        caller.join(30)
        assert result.get("status") == 200, result
        assert result["body"] == {"status": "finished"}
        proc.wait(timeout=grace)  # exits within the grace period once drained
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.stdout.read() if proc.stdout else ""
    assert "Application shutdown complete" in output, output


@pytest.mark.slow
def test_grace_period_bounds_a_stuck_handler(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_drain_app.py"), str(port), "1", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ok(f"{base}/fast", proc)
        caller = threading.Thread(target=_status, args=(f"{base}/slow",), daemon=True)
        caller.start()
        _wait_for(lambda: (tmp_path / "started").exists(), "the slow request to start")
        proc.send_signal(signal.SIGTERM)
        # The handler never finishes; the process still exits (grace 1 s + uvicorn's 2 s).
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=60).status_code
    except httpx.HTTPError:
        return 0


def _wait_ok(url: str, proc: subprocess.Popen) -> None:
    def ready() -> bool:
        assert proc.poll() is None, "the app exited at start-up"
        return _status(url) == 200

    _wait_for(ready, f"{url} to answer")


def _wait_for(predicate, what: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_host_app_drains_with_the_builtin_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    import funchost._shutdown_plugin as plugin
    from funchost import invoke
    from funchost.app import create_app
    from funchost.plugins import get_plugin_manager
    from funchost.registry import Registry
    from funchost.settings import Settings

    @invoke("ping", methods=("GET",))
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    monkeypatch.setenv("FUNCHOST_SHUTDOWN_GRACE", "7")
    pm = get_plugin_manager(entry_points=False)
    if not pm.is_registered(plugin):
        pm.register(plugin, name="funchost._shutdown_plugin")
    app = create_app(Registry([ping]), Settings(app_id="shop"), plugin_manager=pm)
    drain = app.state.drain
    assert drain.grace == 7
    client = TestClient(app)
    assert client.get("/ping").json() == {"pong": "yes"}
    drain.begin()
    assert client.get("/ping").status_code == 503
    assert client.get("/healthz").status_code == 503


def test_bad_grace_setting_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from funchost.errors import ConfigError
    from funchost.shutdown import grace_from_env

    monkeypatch.setenv("FUNCHOST_SHUTDOWN_GRACE", "soon")
    with pytest.raises(ConfigError, match="FUNCHOST_SHUTDOWN_GRACE='soon' is invalid"):
        grace_from_env()
