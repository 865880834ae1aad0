"""Helpers for the storage subprocess tests: a sidecar alone in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from funchost.sidecar import free_port


def spawn_sidecar(
    db: Path,
    preexec_fn: Callable[[], Any] | None = None,
    env: dict[str, str] | None = None,
    app_id: str = "store-test",
    resources: list[Path] | None = None,
) -> tuple[subprocess.Popen[str], int, int]:
    """`python -m funchost.sidecar.runner` on free ports; (process, http port, grpc port)."""
    http, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "funchost.sidecar.runner", "--app-id", app_id]
    argv += ["--http-port", str(http), "--grpc-port", str(grpc_port), "--db", str(db)]
    for folder in resources or []:
        argv += ["--resources-path", str(folder)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        preexec_fn=preexec_fn,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"the sidecar did not start: {err}")
    ports = json.loads(line)
    return proc, int(ports["http"]), int(ports["grpc"])


def dapr_client(http: int, grpc_port: int) -> Any:
    """The SDK's DaprClient on this sidecar (its health probe reads DAPR_HTTP_PORT)."""
    from dapr.clients import DaprClient

    os.environ["DAPR_HTTP_PORT"] = str(http)
    os.environ["DAPR_GRPC_PORT"] = str(grpc_port)
    return DaprClient(address=f"127.0.0.1:{grpc_port}")


def stop(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str]:
    """SIGTERM, wait; (exit code, stderr)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err or ""
