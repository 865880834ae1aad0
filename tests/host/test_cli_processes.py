"""`funchost run` and `funchost sidecar` + `funchost serve` as real processes; Ctrl-C stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from funchost.sidecar import free_port
from tests.host.conftest import SAMPLES

pytestmark = pytest.mark.slow
ALL_KINDS = str(SAMPLES / "all_kinds")


def _spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from funchost.cli import main; main()", *args],
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_invoke(url: str, deadline: float = 60.0) -> httpx.Response:
    end = time.monotonic() + deadline
    while True:
        try:
            resp = httpx.get(url, timeout=5)
            if 200 <= resp.status_code < 300:
                return resp
        except httpx.HTTPError:
            pass
        if time.monotonic() > end:
            raise TimeoutError(url)
        time.sleep(0.2)


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"did not stop on Ctrl-C:\n{out}") from None
    return out


def test_run_serves_through_the_embedded_sidecar(tmp_path: Path) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    proc = _spawn(
        [
            "run",
            ALL_KINDS,
            "--port",
            str(app_port),
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--no-plugins",
            "--log-level",
            "warning",
        ],
        tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{http_port}/v1.0/invoke/all_kinds/method/tasks/3"
        try:
            assert _wait_invoke(url).json() == {"id": 3}
        except TimeoutError:
            raise AssertionError(f"no answer from {url}; output:\n{_interrupt(proc)}") from None
    finally:
        out = _interrupt(proc) if proc.returncode is None else ""
    assert proc.returncode in (0, -signal.SIGINT, 130), out
    assert (tmp_path / ".funchost" / "all_kinds.db").exists()
    assert f"gRPC 127.0.0.1:{grpc_port}" in out


def test_sidecar_and_serve_as_two_processes(tmp_path: Path) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    sidecar = _spawn(
        [
            "sidecar",
            "--app-id",
            "pair",
            "--app-port",
            str(app_port),
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--state-dir",
            str(tmp_path),
        ],
        tmp_path,
    )
    env = {
        "DAPR_HTTP_PORT": str(http_port),
        "DAPR_GRPC_PORT": str(grpc_port),
        "APP_PORT": str(app_port),
        "APP_API_TOKEN": "tok",
    }
    serve = None
    try:
        _wait_invoke(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound")
        serve = _spawn(
            ["serve", ALL_KINDS, "--no-plugins", "--log-level", "warning"], tmp_path, env
        )
        assert _wait_invoke(f"http://127.0.0.1:{app_port}/healthz").json() == {"status": "ok"}
        denied = httpx.get(f"http://127.0.0.1:{app_port}/dapr/subscribe", timeout=5)
        assert denied.status_code == 401
    finally:
        if serve is not None:
            serve_out = _interrupt(serve)
            assert serve.returncode in (0, -signal.SIGINT, 130), serve_out
        sidecar_out = _interrupt(sidecar)
    assert sidecar.returncode in (0, -signal.SIGINT, 130), sidecar_out
