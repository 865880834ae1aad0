"""Readiness for scripts: `funchost run --ready-file`, `funchost wait`; the banner's timing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from funchost.cli import app
from funchost.observability.progress import StartupProgress, process_age
from funchost.observability.ready import write_ready_file
from funchost.sidecar import free_port
from tests.host.conftest import SAMPLES


def _funchost(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "funchost", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "FUNCHOST_LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_wait_fails_with_a_clear_message_when_nothing_answers() -> None:
    port, sidecar_port = free_port(), free_port()
    args = ["wait", "--port", str(port), "--dapr-http-port", str(sidecar_port), "--timeout", "0.3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert f"not ready after 0.3 s (http://127.0.0.1:{port}/healthz: ConnectError" in result.output
    assert "is `funchost run` running?" in result.output


def test_the_ready_file_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "state" / "ready.json"
    write_ready_file(target, {"pid": 1})
    write_ready_file(target, {"pid": 2})
    assert json.loads(target.read_text()) == {"pid": 2}
    assert [p.name for p in target.parent.iterdir()] == ["ready.json"]  # no temporary left


def test_the_banner_counts_from_the_process_start() -> None:
    assert process_age() > 0.0  # this interpreter started before this test
    progress = StartupProgress(enabled=False, since_process_start=True)
    assert progress.elapsed() >= process_age() - 0.05
    assert StartupProgress(enabled=False).elapsed() < 1.0


@pytest.mark.slow
def test_run_ready_file_and_wait(tmp_path: Path) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    ready = tmp_path / "ready.json"
    ready.write_text("stale, from a killed run")
    proc = _funchost(
        "run",
        str(SAMPLES / "all_kinds"),
        "--port",
        str(app_port),
        "--dapr-http-port",
        str(http_port),
        "--dapr-grpc-port",
        str(grpc_port),
        "--no-plugins",
        "--ready-file",
        str(ready),
        cwd=tmp_path,
    )
    try:
        waited = subprocess.run(
            [
                *(sys.executable, "-m", "funchost", "wait", "--port", str(app_port)),
                *("--dapr-http-port", str(http_port), "--ready-file", str(ready)),
                *("--timeout", "90"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert waited.returncode == 0, waited.stderr
        assert f"ready: http://127.0.0.1:{app_port}" in waited.stdout
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        assert info["sidecar_http"] == f"http://127.0.0.1:{http_port}"
        assert info["ready_in_seconds"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), out  # 130: stopped by Ctrl-C
    assert not ready.exists(), "the ready file outlived `funchost run`"
    # each line once: the sidecar's own uvicorn does not repeat the app's start/stop lines
    for line in ("Started server process", "Shutting down", "Finished server process"):
        seen = out.count(line)
        assert seen == 1, f"{line!r} {seen} times (exit {proc.returncode}); the output:\n{out}"
    # (a line of its own: "already in use", of a taken dashboard port, must not count)
    assert len(re.findall(r"^ready in ", out, re.M)) == 1, out
