"""Helpers for the dashboard tests: `funchost run` as a process on free ports, and Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_ports(count: int) -> list[int]:
    """`count` different free loopback ports (held together while chosen, then released)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def copy_project(target: Path, functions: Path, *resources: Path) -> Path:
    """A project folder in `target`: `functions/` plus resource folders beside it."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(functions, target / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in resources:
        shutil.copytree(folder, target / folder.name)
    return target


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check()` until it returns something truthy; TimeoutError naming `what`."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.2)


class RunningApp:
    """`funchost run functions/` in `project` on free ports (dashboard included)."""

    def __init__(
        self, project: Path, env: dict[str, str] | None = None, extra: list[str] | None = None
    ) -> None:
        self.app_port, self.http_port, self.grpc_port, self.dashboard_port = free_ports(4)
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.token = (env or {}).get("DAPR_API_TOKEN")
        self.lines: list[str] = []
        args = [
            "run",
            "functions",
            "--port",
            str(self.app_port),
            "--dapr-http-port",
            str(self.http_port),
            "--dapr-grpc-port",
            str(self.grpc_port),
            "--dashboard-port",
            str(self.dashboard_port),
            *(extra or []),
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from funchost.cli import main; main()", *args],
            cwd=project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"dapr-api-token": self.token} if self.token else {}

    def wait_ready(self, timeout: float = 90.0) -> RunningApp:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"funchost run exited early:\n{self.output}")
            if "ready in" not in self.output:
                return False
            resp = httpx.get(f"{self.dashboard_url}/api/overview", headers=self.headers)
            return resp.status_code == 200 and not resp.json()["errors"]

        try:
            wait_for(ready, "funchost run and its dashboard", timeout)
        except TimeoutError:
            raise AssertionError(f"funchost run never became ready:\n{self.output}") from None
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def require_browser() -> None:
    """Skip unless Playwright and Debian's Chromium are installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
