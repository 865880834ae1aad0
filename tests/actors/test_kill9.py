"""Reminders survive a kill -9 of the process running the sidecar (real clock, short durations)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dapr.actor import ActorId, ActorProxy, ActorProxyFactory

from funchost.sidecar import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).parent


def _spawn(db: Path, http_port: int, app_port: int, events: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_proc_main.py"),
            str(db),
            str(http_port),
            str(app_port),
            str(events),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DAPR_HTTP_PORT": str(http_port)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"subprocess failed to start: {line!r}"
    return proc


def _reminders(events: Path) -> list[list]:
    if not events.exists():
        return []
    rows = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    return [r for r in rows if r[1] == "reminder"]


def _wait_for(events: Path, count: int, timeout: float = 30.0) -> list[list]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _reminders(events)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return _reminders(events)


async def test_reminder_survives_kill_9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _actors_app import CounterInterface

    db, events = tmp_path / "sidecar.db", tmp_path / "events.jsonl"
    http_port, app_port = free_port(), free_port()
    monkeypatch.setenv("DAPR_HTTP_PORT", str(http_port))
    proc = _spawn(db, http_port, app_port, events)
    try:
        proxy = ActorProxy.create(
            "CounterActor", ActorId("k9"), CounterInterface, actor_proxy_factory=ActorProxyFactory()
        )
        await proxy.SetReminder({"name": "durable", "data": "still here", "due": 3, "period": 60})
        os.kill(proc.pid, signal.SIGKILL)  # acknowledged, not yet fired
        proc.wait(10)
        assert _reminders(events) == []
        proc = _spawn(db, http_port, app_port, events)
        found = _wait_for(events, 1)
        assert [r[1:] for r in found] == [["reminder", "k9", "durable", "still here"]]
    finally:
        proc.kill()
        proc.wait(10)
