"""The task agent's workflow tells a task's owner through notification-service's `notify_owner`
activity, run cross-app in that app's worker: the agent alone waits (the workflow stays
RUNNING), and completes once notification-service starts (both apps as `funchost run -f`)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from funchost.sidecar import resolution

from .test_agent_two_apps import _free_port_copy
from .test_run_file import _Launcher


def _only(run_file: Path, app_dir: str, out: Path) -> Path:
    doc = yaml.safe_load(run_file.read_text())
    doc["apps"] = [a for a in doc["apps"] if a["appDirPath"].endswith(app_dir)]
    out.write_text(yaml.safe_dump(doc))
    return out


def _stop(launcher: _Launcher) -> int:
    launcher.proc.send_signal(signal.SIGTERM)
    return launcher.proc.wait(90)


def test_owner_is_told_by_the_other_app_once_it_runs(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    both = _free_port_copy(tmp_path)
    agent_only = _only(both, "functions", tmp_path / "agent.yaml")
    service_only = _only(both, "notification-service", tmp_path / "service.yaml")
    agent = _Launcher(agent_only, registry)
    service: _Launcher | None = None
    try:
        agent.wait_for("1 app running", timeout=120)
        url = resolution.resolve("functions", directory=registry)
        assert url is not None
        invoke = f"{url.http_url}/v1.0/invoke/functions/method"
        task = {
            "task_id": "owner-1",
            "title": "Review PR #42",
            "assignee": "alice@example.com",
            "description": "Review the authentication refactoring pull request",
            "owner": "bob@example.com",
        }
        with httpx.Client(timeout=30) as http:
            assert http.post(f"{invoke}/tasks/process", json=task).status_code == 200

            def workflow() -> dict[str, Any]:
                return dict(http.get(f"{invoke}/workflows/task-workflow-owner-1").json())

            deadline = time.monotonic() + 60
            while workflow().get("custom_status") != "completed" and time.monotonic() < deadline:
                assert workflow().get("custom_status") not in ("rejected", "failed"), workflow()
                time.sleep(0.2)
            time.sleep(1.0)  # notify_owner is owed to an app that is not running: it waits
            assert workflow()["status"] == "RUNNING", workflow()
            service = _Launcher(service_only, registry)
            service.wait_for("1 app running", timeout=120)
            deadline = time.monotonic() + 60
            while workflow()["status"] == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert workflow()["status"] == "COMPLETED", workflow()
            sent = http.get(
                f"{url.http_url}/v1.0/invoke/notification-service/method/notifications"
            ).json()
        told = [n for n in sent if n["notice"]["user_id"] == "bob@example.com"]
        assert len(told) == 1, sent
        assert told[0]["notice"]["event"] == "task.completed"
        assert told[0]["via"] == "workflow task-workflow-owner-1"
    finally:
        codes = [_stop(x) for x in (service, agent) if x is not None]
    assert codes == [0] * len(codes), "\n".join(agent.lines)
