"""What a resting sidecar process holds: the modules it needs to serve, not the Dapr SDK's clients
(`_workflow_protos` loads the durabletask protos with `dapr.ext.workflow`'s `__init__` deferred),
and the SDK still works the usual way when an app in the same process imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import funchost.sidecar.server  # every subsystem, as `funchost sidecar` loads them
before = {m: m in sys.modules for m in (
    "aiohttp", "dapr.clients", "dapr.ext.workflow.workflow_runtime", "prometheus_client",
    "funchost.triggers", "websockets", "httpx")}
from dapr.ext.workflow import DaprWorkflowClient, WorkflowRuntime  # an app in this process
import dapr.ext.workflow as wf
from funchost.sidecar._workflow_protos import pb
after = {
    "runtime": wf.WorkflowRuntime is WorkflowRuntime,
    "client": wf.DaprWorkflowClient is DaprWorkflowClient,
    "same_protos": wf._durabletask.internal.protos is pb,
    "plain_module": type(wf).__name__ == "module",
}
print(json.dumps({"before": before, "after": after}))
"""


def _probe() -> dict[str, dict[str, bool]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_sidecar_rests_without_sdk_clients_and_the_sdk_still_loads() -> None:
    found = _probe()
    assert not any(found["before"].values()), found["before"]
    assert all(found["after"].values()), found["after"]


_SUBMODULE_FIRST = """
import funchost.sidecar.server
{imports}
import dapr.ext.workflow as wf
assert type(wf).__name__ == "module" and wf.WorkflowRuntime is not None
print("ok")
"""


def test_sdk_submodules_imported_first_load_in_the_usual_order() -> None:
    """A process that rests as a sidecar, then imports a submodule of the SDK first (the aio
    client, the durabletask client): its `__init__` runs before it, as with a plain import."""
    for imports in (
        "from dapr.ext.workflow.aio import DaprWorkflowClient",
        "from dapr.ext.workflow._durabletask import client",
        "import dapr.ext.workflow.workflow_runtime",
    ):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        code = _SUBMODULE_FIRST.format(imports=imports)
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0 and out.stdout.strip() == "ok", (imports, out.stderr[-2000:])
