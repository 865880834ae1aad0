"""Helpers for the task agent's tests: resources folders and a notification endpoint."""

from __future__ import annotations

import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from funchost.testing import LocalRuntime

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
if str(REPO) not in sys.path:  # the tests import the `functions` package too
    sys.path.insert(0, str(REPO))


def write_resources(folder: Path, notifications: dict) -> Path:
    """The repository's components/ plus a `notifications` binding with the given spec."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((REPO / "components").glob("*.yaml")):
        shutil.copy(source, folder / source.name)
    binding = yaml.safe_load((REPO / "bindings" / "notifications.yaml").read_text())
    binding["spec"] = notifications
    (folder / "notifications.yaml").write_text(yaml.safe_dump(binding))
    return folder


def localstorage(root: Path) -> dict:
    return {
        "type": "bindings.localstorage",
        "version": "v1",
        "metadata": [{"name": "rootPath", "value": str(root)}],
    }


def http_binding(url: str) -> dict:
    return {"type": "bindings.http", "version": "v1", "metadata": [{"name": "url", "value": url}]}


class NotificationServer:
    """A loopback HTTP endpoint for the notifications binding that answers `status` and
    records every request body; `hold()` makes it block requests until `release()`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self.arrived = threading.Event()
        self._gate = threading.Event()
        self._gate.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.bodies.append(body)
                server.arrived.set()
                server._gate.wait(30)
                self.send_response(server.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/notify"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def close(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()


async def call(
    runtime: LocalRuntime, path: str, *, method: str = "POST", json: Any = None
) -> httpx.Response:
    """Call the app's HTTP API through the sidecar's service invocation API (`/v1.0/invoke`)."""
    response: httpx.Response = await runtime.invoke(path, http_method=method, json=json)
    return response


async def call_app(
    runtime: LocalRuntime, path: str, *, method: str = "POST", json: Any = None
) -> httpx.Response:
    """Call the app's HTTP API directly on its port, as `curl` in the README does."""
    async with httpx.AsyncClient(base_url=runtime.app_url, timeout=30) as client:
        return await client.request(method, f"/{path}", json=json)


def task_request(task_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "title": "Review PR #42",
        "description": "Review the authentication refactoring pull request",
        "assignee": "alice@example.com",
        "deadline_seconds": 3600,
        **overrides,
    }


async def start(agent: LocalRuntime, task_id: str, **overrides: Any) -> str:
    resp = await call(agent, "tasks/process", json=task_request(task_id, **overrides))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "started"
    return str(body["workflow_id"])


async def get_task(agent: LocalRuntime, task_id: str) -> dict[str, Any]:
    resp = await call(agent, f"tasks/{task_id}", method="GET")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def timeline(agent: LocalRuntime, task_id: str) -> list[str]:
    await agent.idle()  # every task-event delivered
    resp = await call(agent, f"tasks/{task_id}/events", method="GET")
    assert resp.status_code == 200, resp.text
    return [event["type"] for event in resp.json()["events"]]
