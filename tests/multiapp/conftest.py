"""Fixtures: apps as real processes on loopback (`funchost sidecar` next to the echo app), each
test with its own name registry (FUNCHOST_REGISTRY_DIR) and free ports only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from funchost.sidecar import free_port, resolution
from funchost.sidecar.resolution import AppAddress

HERE = Path(__file__).resolve().parent
ECHO_APP = HERE / "echo_app.py"
#: the `funchost` command, run by this interpreter (PYTHONPATH reaches the code under test)
FUNCHOST = [sys.executable, "-c", "from funchost.cli import main; main()"]


@dataclass
class App:
    """One app: the echo app process and its `funchost sidecar` process."""

    app_id: str
    app_port: int
    app: subprocess.Popen[bytes]
    sidecar: subprocess.Popen[bytes]
    address: AppAddress

    @property
    def http_url(self) -> str:
        return self.address.http_url

    @property
    def grpc_address(self) -> str:
        return self.address.grpc_address


@dataclass
class Apps:
    """Starts apps in one registry; stops every process it started."""

    root: Path
    registry: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["FUNCHOST_REGISTRY_DIR"] = str(self.registry)
        env.update(extra)
        return env

    def spawn(self, args: list[str], log: str, **env: str) -> subprocess.Popen[bytes]:
        out = open(self.root / log, "wb")  # noqa: SIM115 - closed when the process is reaped
        proc = subprocess.Popen(args, env=self.env(**env), stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def sidecar_args(self, app_id: str, app_port: int | None, resources: Path | None) -> list[str]:
        args = [
            *FUNCHOST, "sidecar", "--app-id", app_id,
            "--dapr-http-port", "0", "--dapr-grpc-port", "0",
            "--state-dir", str(self.root / "state"),
        ]  # fmt: skip
        if app_port is not None:
            args += ["--app-port", str(app_port)]
        if resources is not None:
            args += ["--resources-path", str(resources)]
        return args

    def start(self, app_id: str, resources: Path | None = None) -> App:
        port = free_port()
        app = self.spawn(
            [sys.executable, str(ECHO_APP)], f"{app_id}-app.log", APP_ID=app_id, APP_PORT=str(port)
        )
        sidecar = self.spawn(self.sidecar_args(app_id, port, resources), f"{app_id}-sidecar.log")
        address = self.wait_registered(app_id, sidecar)
        return App(app_id, port, app, sidecar, address)

    def wait_registered(
        self, app_id: str, proc: subprocess.Popen[bytes], timeout: float = 30.0
    ) -> AppAddress:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = resolution.resolve(app_id, directory=self.registry)
            if found is not None and found.pid == proc.pid:
                return found
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{app_id} did not register: {self.log(app_id + '-sidecar.log')}")

    def log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    group = Apps(tmp_path, tmp_path / "registry")
    try:
        yield group
    finally:
        group.stop_all()
