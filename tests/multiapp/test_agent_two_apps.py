"""The repository's dapr.yaml: the task agent and notification-service as two apps that reach
each other by app id (real processes, free ports: the file's fixed ports are swapped out)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import yaml

from funchost.runfile import load_run_file
from funchost.sidecar import resolution

from .test_run_file import _Launcher

ROOT = Path(__file__).resolve().parents[2]


def _free_port_copy(tmp_path: Path) -> Path:
    """The repository's dapr.yaml with absolute folders and no fixed ports."""
    doc = yaml.safe_load((ROOT / "dapr.yaml").read_text())
    doc["common"]["resourcesPaths"] = [str(ROOT / p) for p in doc["common"]["resourcesPaths"]]
    for app in doc["apps"]:
        app["appDirPath"] = str(ROOT / app["appDirPath"])
        for key in ("appPort", "daprHTTPPort", "daprGRPCPort"):
            app.pop(key, None)
    path = tmp_path / "dapr.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_repository_dapr_yaml_is_valid_and_names_both_apps() -> None:
    spec = load_run_file(ROOT / "dapr.yaml")
    assert [a.app_id for a in spec.apps] == ["functions", "notification-service"]
    assert all(a.is_functions_folder for a in spec.apps) and not spec.warnings


def test_agent_completes_a_task_and_notification_service_hears_of_it(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    launcher = _Launcher(_free_port_copy(tmp_path), registry)
    try:
        launcher.wait_for("2 apps running", timeout=120)
        apps = {a.app_id: a for a in resolution.list_apps(registry)}
        agent = apps["functions"].http_url
        with httpx.Client(timeout=30) as http:
            # service invocation by app id, from the agent's sidecar to the other app
            r = http.post(
                f"{agent}/v1.0/invoke/notification-service/method/notify",
                json={"message": "hello", "user_id": "alice@example.com"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["notice"]["message"] == "hello"
            # the agent's own code calls it when a task is completed
            task = {
                "task_id": "two-apps-1",
                "title": "Review PR #42",
                "assignee": "alice@example.com",
                "description": "Review the authentication refactoring pull request",
            }
            invoke = f"{agent}/v1.0/invoke/functions/method"
            assert http.post(f"{invoke}/tasks/process", json=task).status_code == 200
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                wf = http.get(f"{invoke}/workflows/task-workflow-two-apps-1").json()
                if wf.get("status") in ("COMPLETED", "FAILED", "TERMINATED"):
                    break
                time.sleep(0.2)
            assert wf["status"] == "COMPLETED", wf
            assert http.post(f"{invoke}/tasks/two-apps-1/complete").status_code == 200
            sent = http.get(f"{agent}/v1.0/invoke/notification-service/method/notifications")
            events = [(n["notice"]["event"], n["notice"]["task_id"]) for n in sent.json()]
            assert ("task.completed", "two-apps-1") in events
    finally:
        launcher.proc.send_signal(signal.SIGTERM)
        code = launcher.proc.wait(90)
    assert code == 0, "\n".join(launcher.lines)
    assert resolution.list_apps(registry) == []
