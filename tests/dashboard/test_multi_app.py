"""One dashboard for every app of `funchost run -f`: two functions folders (from
tests/functions/) and a command app next to its `funchost sidecar`, on free ports with their own
registry; the API lists all three and serves each app's workflows and topics, and the header's
switcher shows the other app's functions in a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dapr.ext.workflow import DaprWorkflowClient

from funchost.sidecar import resolution

from ._support import free_ports, wait_for

TESTS = Path(__file__).resolve().parents[1]
ECHO_APP = TESTS / "multiapp" / "echo_app.py"
FUNCHOST = [sys.executable, "-c", "from funchost.cli import main; main()"]


@dataclass
class MultiRun:
    """`funchost run -f dapr.yaml` as a child process, with its dashboard's URL."""

    proc: subprocess.Popen[str]
    registry: Path
    dashboard: str
    lines: list[str]

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def api(self, path: str, **params: str) -> Any:
        resp = httpx.get(f"{self.dashboard}{path}", params=params, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def address(self, app_id: str) -> resolution.AppAddress:
        found = resolution.resolve(app_id, directory=self.registry)
        assert found is not None, self.output
        return found


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiRun]:
    root = tmp_path_factory.mktemp("multi")
    for name, folder in (("orders", "all_kinds"), ("ops", "context_ops")):
        shutil.copytree(
            TESTS / "functions" / folder,
            root / name,
            ignore=shutil.ignore_patterns("__pycache__", "components"),
        )
    (root / "echo").mkdir()
    echo_port, dashboard_port = free_ports(2)
    (root / "dapr.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            apps:
              - appDirPath: ./orders
              - appDirPath: ./ops
              - appDirPath: ./echo
                appID: echo
                appPort: {echo_port}
                command: ["{sys.executable}", "{ECHO_APP}"]
            """
        )
    )
    registry = root / "registry"
    env = {
        **os.environ,
        "FUNCHOST_REGISTRY_DIR": str(registry),
        "FUNCHOST_DASHBOARD_PORT": str(dashboard_port),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [*FUNCHOST, "run", "-f", "dapr.yaml"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    run = MultiRun(proc, registry, f"http://127.0.0.1:{dashboard_port}", lines)
    try:

        def running() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"funchost run -f exited early:\n{run.output}")
            return "3 apps running" in run.output

        wait_for(running, "the three apps", 150)
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)


def test_run_file_serves_one_dashboard_and_the_apps_none(multi: MultiRun) -> None:
    assert f"dashboard on {multi.dashboard}" in multi.output
    # the functions apps were told not to serve their own (no "dashboard: http" line, no
    # "port taken" warning from an app racing for the same port)
    assert "dashboard: off" in multi.output
    assert "running without the dashboard" not in multi.output


def test_api_lists_every_app_with_pid_ports_protocol_and_health(multi: MultiRun) -> None:
    def all_healthy() -> Any:
        doc = multi.api("/api/apps")
        ok = [a for a in doc["apps"] if a["health"] == "healthy"]
        return doc if len(ok) == 3 else None

    doc = wait_for(all_healthy, "three healthy apps", 60)
    assert doc["current"] == "orders"  # the run file's first app
    rows = {a["appId"]: a for a in doc["apps"]}
    assert set(rows) == {"orders", "ops", "echo"}
    for app_id, row in rows.items():
        address = multi.address(app_id)
        assert (row["pid"], row["httpPort"], row["grpcPort"], row["appPort"]) == (
            address.pid,
            address.http_port,
            address.grpc_port,
            address.app_port,
        )
        assert row["appProtocol"] == "http"
    assert rows["orders"]["pid"] != rows["ops"]["pid"]


def test_overview_and_functions_per_app(multi: MultiRun) -> None:
    orders = multi.api("/api/overview", app="orders")
    ops = multi.api("/api/overview", app="ops")
    assert orders["app_id"] == "orders" and ops["app_id"] == "ops"
    assert "double_it" in {f["name"] for f in orders["functions"]}
    assert "triple" in {f["name"] for f in ops["functions"]}
    assert "triple" not in {f["name"] for f in orders["functions"]}
    # no ?app= is the run file's first app
    assert multi.api("/api/overview")["app_id"] == "orders"
    # a command app (any language, next to a `funchost sidecar`): its sidecar's views only
    echo = multi.api("/api/overview", app="echo")
    assert echo["app_id"] == "echo" and echo["functions"] == [] and not echo["errors"]
    assert "not a funchost functions app" in echo["notes"][0]
    assert multi.api("/api/topics", app="echo")["topics"] == []
    resp = httpx.get(f"{multi.dashboard}/api/overview", params={"app": "nobody"})
    assert resp.status_code == 404
    assert "'nobody'" in resp.json()["error"] and "'ops'" in resp.json()["error"]


def test_each_apps_workflows_and_topics(multi: MultiRun) -> None:
    for app_id, workflow, value in (("orders", "double_it", 4), ("ops", "triple", 5)):
        address = multi.address(app_id)
        client = DaprWorkflowClient(host="127.0.0.1", port=str(address.grpc_port))
        iid = client.schedule_new_workflow(
            workflow, input=value, instance_id=f"dash-multi-{app_id}"
        )
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        assert state is not None and state.serialized_output == str(value * (2 + (app_id == "ops")))
    for app_id, other in (("orders", "ops"), ("ops", "orders")):
        listed = multi.api("/api/workflows", app=app_id)
        ids = {w["instanceID"] for w in listed["items"]}
        assert f"dash-multi-{app_id}" in ids and f"dash-multi-{other}" not in ids
        instance = multi.api(f"/api/workflows/dash-multi-{app_id}", app=app_id)
        assert instance["instanceID"] == f"dash-multi-{app_id}"
    orders_topics = {t["topic"] for t in multi.api("/api/topics", app="orders")["topics"]}
    ops_topics = {t["topic"] for t in multi.api("/api/topics", app="ops")["topics"]}
    assert "orders" in orders_topics and "ctx-echo" not in orders_topics
    assert "ctx-echo" in ops_topics and "orders" not in ops_topics


def test_switching_app_in_the_header_shows_its_functions(multi: MultiRun, page: Any) -> None:
    page.goto(multi.dashboard + "/#/")
    page.wait_for_selector('[data-testid="functions"] tr[data-function="double_it"]')
    page.wait_for_selector('[data-testid="apps"] tr[data-app="echo"]')
    switch = page.locator("#app-switch")
    assert switch.is_visible()
    assert switch.input_value() == "orders"
    switch.select_option("ops")
    page.wait_for_url("**/?app=ops#/")
    page.wait_for_selector('[data-testid="functions"] tr[data-function="triple"]')
    assert page.locator('tr[data-function="double_it"]').count() == 0
    assert page.locator("#app-switch").input_value() == "ops"
    # the other pages read the chosen app's sidecar too
    page.click('header nav a[data-view="topics"]')
    page.wait_for_selector('[data-testid="topics"] tr[data-topic="ctx-echo"]')
    assert page.locator('tr[data-topic="orders"]').count() == 0


def test_funchost_dashboard_with_no_target_shows_every_registered_app(multi: MultiRun) -> None:
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if k not in ("APP_PORT", "DAPR_HTTP_PORT")}
    env["FUNCHOST_REGISTRY_DIR"] = str(multi.registry)
    proc = subprocess.Popen(
        [*FUNCHOST, "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        doc = wait_for(lambda: httpx.get(f"{url}/api/apps").json(), "funchost dashboard", 60)
        assert {a["appId"] for a in doc["apps"]} == {"orders", "ops", "echo"}
        assert all(a["pid"] for a in doc["apps"])  # no stand-in for daprd's default ports
        ops = httpx.get(f"{url}/api/overview", params={"app": "ops"}).json()
        assert "triple" in {f["name"] for f in ops["functions"]}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
