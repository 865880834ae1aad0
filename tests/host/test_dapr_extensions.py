"""Every Dapr SDK extension imports beside funchost (same process, installed dependencies).

`dapr.ext.grpc` needs `cloudevents` 1.x (`dapr[grpc]` pins `cloudevents<2`); funchost itself
does not depend on `cloudevents`, so nothing pulls 2.x in, where `from dapr.ext.grpc import App`
fails with `No module named 'cloudevents.sdk'`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORTS = """
import funchost, funchost.app, funchost.cli, funchost.sidecar, funchost.testing
from dapr.ext.grpc import App
from dapr.ext.fastapi import DaprActor, DaprApp
from dapr.ext.workflow import WorkflowRuntime, DaprWorkflowClient
from dapr.clients import DaprClient
from dapr.aio.clients import DaprClient as AsyncDaprClient
print("ok")
"""


def test_every_dapr_extension_imports_beside_funchost() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_dependencies_leave_cloudevents_to_the_dapr_grpc_extra() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.startswith("cloudevents")]
    (dapr,) = [d for d in deps if d.startswith("dapr[")]
    extras = set(dapr[dapr.index("[") + 1 : dapr.index("]")].split(","))
    assert {"fastapi", "grpc", "workflow"} <= extras
