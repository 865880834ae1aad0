"""The dashboard of the task agent (`funchost run functions/`) in a real headless Chromium."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from funchost.discovery import discover
from funchost.observability.cli import fetch_history
from funchost.sidecar import free_port

from ._support import REPO, RunningApp, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _start_task(agent: RunningApp, task_id: str, **extra: Any) -> str:
    body = {
        "task_id": task_id,
        "title": "Review PR #42",
        "assignee": "alice@example.com",
        "description": "Review the authentication refactoring pull request",
        **extra,
    }
    resp = httpx.post(f"{agent.app_url}/tasks/process", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["workflow_id"])


def _workflow(agent: RunningApp, workflow_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{agent.app_url}/workflows/{workflow_id}", timeout=10).json())


def test_overview_shows_every_function_by_kind_with_file_and_line(
    page: Any, agent: RunningApp
) -> None:
    page.goto(agent.dashboard_url + "/")
    table = page.locator("[data-testid=functions]")
    table.wait_for()
    expected = discover(REPO / "functions", plugins=False)
    for d in expected:
        row = table.locator(f"tr[data-function='{d.name}']")
        text = row.inner_text()
        assert f"functions/{d.file.rsplit('/', 1)[-1]}:{d.line}" in text, text
    kinds = {t.strip().split(" ")[0] for t in table.locator("tr.kind").all_inner_texts()}
    assert kinds == {d.kind for d in expected}
    assert page.locator("#app-id").inner_text() == "functions"
    assert page.locator("[data-testid=queues]").is_visible()


def test_a_tasks_workflow_timeline_shows_the_activities_of_its_history(
    page: Any, agent: RunningApp
) -> None:
    workflow_id = _start_task(agent, "task-timeline")
    wait_for(lambda: _workflow(agent, workflow_id)["status"] == "COMPLETED", "the workflow")

    page.goto(agent.dashboard_url + "/#/workflows")
    page.fill("input[name=q]", "task-timeline")
    page.click("#wf-filter button[type=submit]")
    page.locator("[data-testid=wf-total]").filter(has_text="1 instance(s)").wait_for()
    page.click(f"a:has-text('{workflow_id}')")
    page.locator("[data-testid=status]").filter(has_text="COMPLETED").wait_for()

    history = fetch_history(workflow_id, agent.grpc)
    scheduled = [ev.taskScheduled.name for ev in history if ev.HasField("taskScheduled")]
    assert scheduled[:2] == ["validate_task", "create_task"]
    bars = page.locator(".tl-row[data-kind=activity]")
    assert bars.evaluate_all("rows => rows.map(r => r.dataset.name)") == scheduled
    assert set(bars.evaluate_all("rows => rows.map(r => r.dataset.status)")) == {"completed"}
    shown = page.locator("[data-testid=history] tr[data-event=taskCompleted]").count()
    assert shown == sum(1 for ev in history if ev.HasField("taskCompleted"))
    assert '"status": "completed"' in page.locator("[data-testid=output]").inner_text()


def test_terminate_a_running_instance_from_its_page(page: Any, agent: RunningApp) -> None:
    workflow_id = _start_task(agent, "task-slow", notify_delay_seconds=3600)
    wait_for(
        lambda: _workflow(agent, workflow_id)["custom_status"] == "waiting to notify",
        "the workflow to wait on its timer",
    )
    page.goto(f"{agent.dashboard_url}/#/instance/{workflow_id}")
    page.locator("[data-testid=status]").filter(has_text="RUNNING").wait_for()
    assert page.locator(".tl-row[data-kind=timer][data-status=running]").count() == 1

    page.click("button[data-action=purge]")  # a running instance cannot be purged: says why
    flash = page.locator("[data-testid=flash]")
    flash.filter(has_text="only completed, failed or terminated").wait_for()

    page.click("button[data-action=suspend]")
    page.locator("[data-testid=status]").filter(has_text="SUSPENDED").wait_for()
    page.click("button[data-action=resume]")
    page.locator("[data-testid=status]").filter(has_text="RUNNING").wait_for()
    page.fill("#ev-name", "nudge")
    page.fill("#ev-data", '{"from": "the dashboard"}')
    page.click("button[data-action=raise]")
    flash.filter(has_text="event 'nudge' raised").wait_for()
    page.locator(".tl-row[data-kind=eventRaised]").wait_for()
    kinds = [ev.WhichOneof("eventType") for ev in fetch_history(workflow_id, agent.grpc)]
    assert {"executionSuspended", "executionResumed", "eventRaised"} <= set(kinds)

    page.click("button[data-action=terminate]")
    page.locator("[data-testid=status]").filter(has_text="TERMINATED").wait_for()
    assert _workflow(agent, workflow_id)["status"] == "TERMINATED"
    page.locator(".tl-row[data-kind=executionTerminated]").wait_for()


def test_an_unknown_instance_gets_a_message_not_a_trace(page: Any, agent: RunningApp) -> None:
    page.goto(f"{agent.dashboard_url}/#/instance/no-such-workflow")
    error = page.locator("[data-testid=error]")
    error.wait_for()
    assert re.search(r"no such instance exists: 'no-such-workflow'", error.inner_text())
    assert "Traceback" not in page.content()


def test_funchost_dashboard_serves_a_running_app(agent: RunningApp) -> None:
    """`funchost dashboard` alone, pointed at the agent's app and sidecar."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from funchost.cli import main; main()",
            "dashboard",
            "--app-url",
            agent.app_url,
            "--dapr-http-port",
            str(agent.http_port),
            "--dapr-grpc-port",
            str(agent.grpc_port),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        overview = wait_for(
            lambda: httpx.get(f"{url}/api/overview", timeout=5).json(), "funchost dashboard"
        )
        assert overview["app_id"] == "functions" and not overview["errors"]
        listed = httpx.get(f"{url}/api/workflows", params={"status": "TERMINATED"}).json()
        assert [w["runtimeStatus"] for w in listed["items"]] == ["TERMINATED"] * listed["total"]
        assert '<script src="/static/app.js">' in httpx.get(url + "/").text
        assert httpx.get(url + "/static/app.js").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert f"funchost dashboard on http://127.0.0.1:{port}" in out
