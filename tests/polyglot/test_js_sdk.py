"""The Dapr JavaScript SDK (`@dapr/dapr`, pinned in package.json) against the embedded sidecar.

`funchost sidecar` runs as a subprocess on free ports, as `dapr run` would run daprd; `app.js`
is a DaprServer + DaprClient + WorkflowRuntime app that checks every building block it uses and
prints `RESULT <json>`. Needs `node` and `npm ci` in this folder (.ci/run does it); skips
otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from funchost.sidecar import free_port
from funchost.testing.process import LoggedProcess

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
NODE = shutil.which("node")

TICK_BINDING = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: tick}
spec:
  type: bindings.cron
  version: v1
  metadata:
    - {name: schedule, value: "@every 1s"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: bindings.localstorage
  version: v1
  metadata:
    - {name: rootPath, value: "ROOT"}
"""


def _skip_reason() -> str | None:
    if NODE is None:
        return "node is not installed (apt-get install nodejs npm; .ci/run does it)"
    if not (HERE / "node_modules" / "@dapr" / "dapr").is_dir():
        return f"@dapr/dapr is not installed: run `npm ci` in {HERE}"
    return None


def _healthy(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 204


def test_javascript_sdk_against_embedded_sidecar(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    assert NODE is not None
    resources = tmp_path / "resources"
    resources.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    (resources / "bindings.yaml").write_text(TICK_BINDING.replace("ROOT", str(files)))
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    funchost = shutil.which("funchost") or str(Path(sys.executable).parent / "funchost")
    env = {**os.environ, "POLYGLOT_SECRET": "s3cret"}
    sidecar = LoggedProcess("funchost sidecar", tmp_path / "sidecar.log")
    sidecar.spawn(
        [
            funchost,
            "sidecar",
            "--app-id",
            "js-app",
            "--app-port",
            str(app_port),
            "--resources-path",
            str(resources),
            "--state-dir",
            str(tmp_path / "state"),
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
        ],
        env=env,
    )
    app_env = {
        **os.environ,
        "APP_ID": "js-app",
        "APP_PORT": str(app_port),
        "DAPR_HTTP_PORT": str(http_port),
        "DAPR_GRPC_PORT": str(grpc_port),
        "FILES_DIR": str(files),
    }
    try:
        sidecar.wait_until(
            lambda: _healthy(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound"),
            "answer /v1.0/healthz/outbound",
            60,
            errors=(httpx.HTTPError,),
        )
        started = time.monotonic()
        proc = subprocess.run(
            [NODE, str(HERE / "app.js")],
            cwd=HERE,
            env=app_env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        elapsed = time.monotonic() - started
    finally:
        sidecar.stop()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    output = f"{proc.stdout}\n{proc.stderr}"
    assert lines, f"app.js printed no RESULT (exit {proc.returncode}):\n{output}"
    result = json.loads(lines[-1][len("RESULT ") :])
    failed = [c for c in result["checks"] if not c["ok"]]
    report = "\n".join(f"- {c['name']}: {c['detail']}" for c in failed)
    tail = proc.stderr[-3000:]
    assert not failed, f"{len(failed)} JS SDK checks failed ({elapsed:.0f}s):\n{report}\n{tail}"
    assert not result.get("timeout"), result
    names = {c["name"] for c in result["checks"]}
    for want in (
        "workflow",
        "actor reminder",
        "input binding",
        "bulk subscribe",
        "state http: etags",
    ):
        assert want in names, names
