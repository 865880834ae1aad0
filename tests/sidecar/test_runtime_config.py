"""`--config FILE`: a Dapr Configuration's secret scopes, features and workflow limits, and the
errors a malformed file gives (FILE:LINE: field: what)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import grpc
import httpx
import pytest
from dapr.clients import DaprClient

from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, free_port
from funchost.sidecar.components import ComponentError
from funchost.sidecar.runtime_config import parse_runtime_config

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: appconfig
spec:
  tracing:
    samplingRate: "1"
    otel:
      endpointAddress: "127.0.0.1:4318"
      protocol: http
      isSecure: false
  features:
    - name: SchedulerReminders
      enabled: true
    - name: Retired
      enabled: false
  secrets:
    scopes:
      - storeName: vault
        defaultAccess: deny
        allowedSecrets: ["db-password", "api-key"]
      - storeName: open
        defaultAccess: allow
        deniedSecrets: ["root"]
  workflow:
    maxConcurrentWorkflowInvocations: 3
    maxConcurrentActivityInvocations: 2
"""

STORES = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: vault}
spec:
  type: secretstores.local.file
  metadata:
    - {name: secretsFile, value: secrets.json}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: open}
spec:
  type: secretstores.local.file
  metadata:
    - {name: secretsFile, value: secrets.json}
"""


def _start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SidecarThread:
    res = tmp_path / "resources"
    res.mkdir(exist_ok=True)
    (res / "stores.yaml").write_text(STORES)
    secrets = {"db-password": "s3", "api-key": "k", "other": "x", "root": "r"}
    (res / "secrets.json").write_text(json.dumps(secrets))
    (tmp_path / "config.yaml").write_text(CONFIG)
    cfg = SidecarConfig(
        app_id="cfgapp",
        http_port=free_port(),
        grpc_port=free_port(),
        resources_paths=[res],
        config_path=tmp_path / "config.yaml",
    )
    thread = SidecarThread(Sidecar(cfg))
    thread.start()
    monkeypatch.setenv("DAPR_HTTP_PORT", str(cfg.http_port))
    monkeypatch.setenv("DAPR_GRPC_PORT", str(cfg.grpc_port))
    return thread


@pytest.fixture
def sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sidecar]:
    thread = _start(tmp_path, monkeypatch)
    yield thread.sidecar
    thread.stop()


def test_secret_scopes_from_config(sidecar: Sidecar) -> None:
    with DaprClient(address=sidecar.grpc_address) as client:
        assert client.get_secret("vault", "db-password").secret == {"db-password": "s3"}
        with pytest.raises(grpc.RpcError) as denied:
            client.get_secret("vault", "other")
        assert denied.value.code().name == "PERMISSION_DENIED"
        assert denied.value.details() == 'access denied by policy to get "other" from "vault"'
        assert set(client.get_bulk_secret("vault").secrets) == {"db-password", "api-key"}
        assert client.get_secret("open", "other").secret == {"other": "x"}
        with pytest.raises(grpc.RpcError):
            client.get_secret("open", "root")
    r = httpx.get(f"{sidecar.http_url}/v1.0/secrets/vault/other")
    assert r.status_code == 403
    assert r.json() == {
        "errorCode": "ERR_PERMISSION_DENIED",
        "message": 'access denied by policy to get "other" from "vault"',
    }
    assert "root" not in httpx.get(f"{sidecar.http_url}/v1.0/secrets/open/bulk").json()


def test_features_and_tracing_are_read(sidecar: Sidecar) -> None:
    meta = httpx.get(f"{sidecar.http_url}/v1.0/metadata").json()
    assert meta["enabledFeatures"] == ["SchedulerReminders"]
    rc = sidecar.components.runtime_config
    assert (rc.sampling_rate, rc.otel_endpoint, rc.otel_protocol) == (1.0, "127.0.0.1:4318", "http")
    engine = sidecar.workflows.engine
    assert (engine.max_turns, engine.max_activities) == (3, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: Component\n", "cfg.yaml:1: kind: must be Configuration, got 'Component'"),
        (
            "kind: Configuration\nspec:\n  workflow:\n    maxConcurrentActivityInvocations: many\n",
            "cfg.yaml:4: spec.workflow.maxConcurrentActivityInvocations: must be a positive "
            "integer, got 'many'",
        ),
        (
            "kind: Configuration\nspec:\n  workflow:\n    maxConcurrentWorkflowInvocations: 0\n",
            "cfg.yaml:4: spec.workflow.maxConcurrentWorkflowInvocations: must be a positive "
            "integer, got 0",
        ),
        (
            "kind: Configuration\nspec:\n  secrets:\n    scopes:\n      - storeName: s\n"
            "        defaultAccess: maybe\n",
            "cfg.yaml:6: spec.secrets.scopes[0].defaultAccess: must be allow or deny, got 'maybe'",
        ),
        (
            "kind: Configuration\nspec:\n  secrets:\n    scopes:\n      - defaultAccess: deny\n",
            "cfg.yaml:5: spec.secrets.scopes[0].storeName: missing (the secret store's name)",
        ),
        (
            "kind: Configuration\nspec:\n  tracing:\n    samplingRate: lots\n",
            "cfg.yaml:4: spec.tracing.samplingRate: must be a number from 0 to 1, got 'lots'",
        ),
        (
            "kind: Configuration\nspec:\n  features:\n    - name: X\n      enabled: sure\n",
            "cfg.yaml:5: spec.features[0].enabled: must be true or false, got 'sure'",
        ),
        ("kind: Configuration\nspec: [1]\n", "cfg.yaml:2: spec: must be a mapping, got list"),
        ("kind: [\n", "cfg.yaml:2:1: not valid YAML"),
    ],
)
def test_malformed_config_names_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ComponentError) as exc:
        parse_runtime_config(text, "cfg.yaml")
    assert str(exc.value).startswith(expected)


def test_cli_sidecar_fails_on_a_malformed_config(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text(
        "kind: Configuration\nspec:\n  workflow:\n    maxConcurrentWorkflowInvocations: -1\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from funchost.cli import main; main()",
            "sidecar",
            "--app-id",
            "x",
            "--dapr-http-port",
            str(free_port()),
            "--dapr-grpc-port",
            str(free_port()),
            "--state-dir",
            str(tmp_path / "state"),
            "--config",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"{bad}:4: spec.workflow.maxConcurrentWorkflowInvocations" in " ".join(
        proc.stderr.split()
    )


# -- workflow limits ------------------------------------------------------------------------------
class Gate:
    """Holds activities until released; records how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.running = 0
        self.peak = 0
        self.done = 0

    def activity(self, ctx: Any, n: int) -> int:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.release.wait(30)
        with self.lock:
            self.running -= 1
            self.done += 1
        return n * 10


def test_max_concurrent_activity_invocations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("durabletask-worker").setLevel(logging.WARNING)
    thread = _start(tmp_path, monkeypatch)
    sidecar = thread.sidecar
    gate = Gate()
    port = str(sidecar.config.grpc_port)
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port)

    def fan_out(ctx: wf.DaprWorkflowContext, count: int) -> Any:
        tasks = [ctx.call_activity(gated, input=i) for i in range(count)]
        results = yield wf.when_all(tasks)
        return sum(results)

    def gated(ctx: Any, n: int) -> int:
        return gate.activity(ctx, n)

    runtime.register_workflow(fan_out)
    runtime.register_activity(gated)
    runtime.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)
    engine = sidecar.workflows.engine
    try:
        iid = client.schedule_new_workflow(fan_out, input=6)
        deadline = time.monotonic() + 30
        while gate.running < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gate.running == 2
        # The other four wait in the sidecar, not on the worker.
        counts = thread.call(_counts(engine))
        assert counts == (2, 4)
        gate.release.set()
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and json.loads(state.serialized_output) == 150
        assert gate.peak == 2 and gate.done == 6
    finally:
        gate.release.set()
        client.close()
        runtime.shutdown()
        thread.stop()


async def _counts(engine: Any) -> tuple[int, int]:
    return len(engine.activity_tokens), len(engine.undispatched)


def test_max_concurrent_workflow_invocations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("durabletask-worker").setLevel(logging.WARNING)
    thread = _start(tmp_path, monkeypatch)
    sidecar = thread.sidecar
    gate = Gate()
    port = str(sidecar.config.grpc_port)
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port)

    def held(ctx: wf.DaprWorkflowContext, n: int) -> int:
        return gate.activity(ctx, n)  # the orchestrator's turn stays open until released

    runtime.register_workflow(held)
    runtime.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)
    engine = sidecar.workflows.engine
    try:
        ids = [client.schedule_new_workflow(held, input=i) for i in range(5)]
        deadline = time.monotonic() + 30
        while gate.running < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gate.running == 3
        assert thread.call(_turns(engine)) == (3, 2)  # two workflows wait in the sidecar
        gate.release.set()
        for iid in ids:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            assert state is not None and state.runtime_status.name == "COMPLETED"
        assert gate.peak == 3
    finally:
        gate.release.set()
        client.close()
        runtime.shutdown()
        thread.stop()


async def _turns(engine: Any) -> tuple[int, int]:
    return len(engine.turns), len(engine.ready)
