"""`funchost serve` as shipped: SIGTERM drain and FUNCHOST_ENABLE, next to `funchost sidecar`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from funchost.sidecar import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SAMPLES = Path(__file__).parents[1] / "functions"
SLOW = """
import asyncio
import os
from pathlib import Path

from funchost import invoke


@invoke("slow", methods=("GET",))
async def slow() -> dict:
    folder = Path(os.environ["DRAIN_DIR"])
    (folder / "started").write_text("1")
    while not (folder / "release").exists():
        await asyncio.sleep(0.02)
    return {"status": "finished"}


@invoke("fast", methods=("GET",))
async def fast() -> dict:
    return {"status": "fast"}
"""


def _cli() -> list[str]:
    exe = shutil.which("funchost")
    return [exe] if exe else [sys.executable, "-m", "funchost"]


@contextmanager
def served(functions: Path, tmp: Path, **env: str) -> Iterator[tuple[subprocess.Popen, int, int]]:
    """`funchost sidecar` + `funchost serve FUNCTIONS`; yields (app process, app port, http)."""
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    full = {
        **os.environ,
        "FUNCHOST_HOST": "127.0.0.1",
        "FUNCHOST_APP_PORT": str(app_port),
        "FUNCHOST_APP_ID": "shop",
        "DAPR_HTTP_PORT": str(http_port),
        "DAPR_GRPC_PORT": str(grpc_port),
        "FUNCHOST_STATE_DIR": str(tmp / "state"),
        **env,
    }
    sidecar = subprocess.Popen(
        [*_cli(), "sidecar", "--app-id", "shop", "--app-port", str(app_port),
         "--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)],
        env=full, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    app = subprocess.Popen(
        [*_cli(), "serve", str(functions)],
        env=full, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait(lambda: _status(f"http://127.0.0.1:{app_port}/healthz") == 200, app)
        # the app may be up before its sidecar (`serve` does not import the sidecar)
        _wait(
            lambda: _status(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound") == 204, sidecar
        )
        yield app, app_port, http_port
    finally:
        for proc in (app, sidecar):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_sigterm_drains_a_real_host(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "slow.py").write_text(textwrap.dedent(SLOW))
    with served(functions, tmp_path, DRAIN_DIR=str(tmp_path), FUNCHOST_SHUTDOWN_GRACE="30") as (
        app,
        port,
        http_port,
    ):
        base = f"http://127.0.0.1:{port}"
        result: dict[str, object] = {}

        def call() -> None:  # through the sidecar, as daprd would deliver it
            url = f"http://127.0.0.1:{http_port}/v1.0/invoke/shop/method/slow"
            response = httpx.get(url, timeout=60)
            result["status"], result["body"] = response.status_code, response.json()

        caller = threading.Thread(target=call)
        caller.start()
        _wait(lambda: (tmp_path / "started").exists(), app)
        app.send_signal(signal.SIGTERM)
        _wait(lambda: _status(f"{base}/fast") == 503, app)  # new work refused
        assert app.poll() is None
        (tmp_path / "release").write_text("1")
        caller.join(30)
        assert result == {"status": 200, "body": {"status": "finished"}}
        app.wait(timeout=30)
        output = app.stdout.read() if app.stdout else ""
        assert "Application shutdown complete" in output, output


@pytest.mark.parametrize(
    ("enable", "topics"),
    [("api", set()), ("workers", {"orders", "raw", "pings"})],
)
def test_funchost_enable_selects_what_serve_serves(
    tmp_path: Path, enable: str, topics: set[str]
) -> None:
    with served(SAMPLES / "all_kinds", tmp_path, FUNCHOST_ENABLE=enable) as (_, port, _):
        base = f"http://127.0.0.1:{port}"
        subscribe = httpx.get(f"{base}/dapr/subscribe", timeout=10)
        got = {i["topic"] for i in subscribe.json()} if subscribe.status_code == 200 else set()
        assert got == topics
        route = httpx.post(f"{base}/tasks", json={"title": "x"}, timeout=30)
        unrouted = route.status_code in (404, 405) and route.json() == {"detail": "Not Found"}
        assert unrouted == (enable != "api"), route.text
        functions = json.loads(httpx.get(f"{base}/functions", timeout=10).text)["functions"]
        kinds = {f["kind"] for f in functions}
        assert ("invoke" in kinds) == (enable == "api")
        assert ("topic" in kinds) == (enable == "workers")


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=60).status_code
    except httpx.HTTPError:
        return 0


def _wait(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"{proc.args} exited early:\n{out}")
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")
