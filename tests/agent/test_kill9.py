"""Capstone criterion 4: the whole process (`funchost run functions/`, sidecar and app) is
killed with SIGKILL in the middle of a task workflow (waiting on its durable timer, or while
the notification is being sent); after a restart on the same state directory the workflow
resumes and completes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from funchost.sidecar import free_port

from ._support import FUNCTIONS, NotificationServer, http_binding, write_resources

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FUNCHOST = shutil.which("funchost") or str(Path(sys.executable).with_name("funchost"))


class AgentProcess:
    """`funchost run FUNCTIONS` in its own session, on free loopback ports, cwd `workdir`."""

    def __init__(self, workdir: Path, functions: Path = FUNCTIONS) -> None:
        self.workdir = workdir
        self.functions = functions
        self.ports = {"app": free_port(), "http": free_port(), "grpc": free_port()}
        self.url = f"http://127.0.0.1:{self.ports['app']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
        cmd = [
            FUNCHOST, "run", str(self.functions),
            "--port", str(self.ports["app"]),
            "--dapr-http-port", str(self.ports["http"]),
            "--dapr-grpc-port", str(self.ports["grpc"]),
            "--log-level", "warning",
        ]  # fmt: skip
        log = (self.workdir / "funchost.log").open("ab")
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=env, stdout=log, stderr=log, start_new_session=True
        )
        self.wait_until(lambda: self.get("healthz").status_code == 200, "the app to answer")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}/{path}", timeout=10)

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/{path}", json=body, timeout=10)

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                log = (self.workdir / "funchost.log").read_text(errors="replace")
                pytest.fail(
                    f"funchost run exited ({self.proc.returncode}) waiting for {what}:\n{log}"
                )
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        log = (self.workdir / "funchost.log").read_text(errors="replace")
        pytest.fail(f"timed out waiting for {what}:\n{log[-4000:]}")


TASK = {
    "title": "Long task",
    "description": "Testing recovery after a crash",
    "assignee": "bob@example.com",
    "deadline_seconds": 300,
}


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path)
    yield process
    process.stop()


def test_workflow_survives_kill_9_and_completes_after_restart(
    agent_process: AgentProcess, tmp_path: Path
) -> None:
    agent_process.start()
    resp = agent_process.post(
        "tasks/process",
        {**TASK, "task_id": "t-kill", "notify_delay_seconds": 3},
    )
    assert resp.status_code == 200, resp.text
    workflow_id = resp.json()["workflow_id"]

    def waiting() -> bool:
        body = agent_process.get(f"workflows/{workflow_id}").json()
        return bool(body["custom_status"] == "waiting to notify")

    agent_process.wait_until(waiting, "the workflow to wait on its timer")
    notification = tmp_path / ".funchost" / "notifications" / "t-kill.json"
    assert not notification.exists()

    agent_process.kill9()
    agent_process.start()  # same working directory, so the same .funchost/ state

    def completed() -> bool:
        return bool(agent_process.get(f"workflows/{workflow_id}").json()["status"] == "COMPLETED")

    agent_process.wait_until(completed, "the workflow to complete after the restart")
    body = agent_process.get(f"workflows/{workflow_id}").json()
    assert body["output"]["status"] == "completed", body
    assert json.loads(notification.read_text())["assignee"] == "bob@example.com"
    task = agent_process.get("tasks/t-kill").json()
    assert task["status"] == "assigned"
    assert task["assignee"] == "bob@example.com"


def test_notification_in_flight_at_kill_9_is_sent_again_after_restart(tmp_path: Path) -> None:
    # A project folder of our own: the agent's functions with a notifications binding that
    # points at a test endpoint, which holds the first request so the kill lands mid-activity.
    (tmp_path / "functions").symlink_to(FUNCTIONS, target_is_directory=True)
    server = NotificationServer()
    write_resources(tmp_path / "components", http_binding(server.url))
    process = AgentProcess(tmp_path, tmp_path / "functions")
    try:
        process.start()
        server.hold()
        resp = process.post("tasks/process", {**TASK, "task_id": "t-inflight"})
        assert resp.status_code == 200, resp.text
        workflow_id = resp.json()["workflow_id"]
        assert server.arrived.wait(30), "the notification never reached the endpoint"

        process.kill9()  # the notify activity is waiting for its HTTP answer
        server.release()
        process.start()

        def completed() -> bool:
            return bool(process.get(f"workflows/{workflow_id}").json()["status"] == "COMPLETED")

        process.wait_until(completed, "the workflow to complete after the restart")
        assert process.get(f"workflows/{workflow_id}").json()["output"]["status"] == "completed"
        assert len(server.bodies) == 2  # at-least-once: the interrupted attempt was redone
        assert json.loads(server.bodies[-1])["task_id"] == "t-inflight"
    finally:
        process.stop()
        server.close()
