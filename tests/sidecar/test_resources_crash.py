"""Resource loading errors, defaults, and durability across kill -9 (subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dapr.clients import DaprClient

from funchost.sidecar import Sidecar, SidecarConfig, free_port
from funchost.sidecar.components import ComponentError, load_resources
from funchost.sidecar.runner import default_resources_paths

from .conftest import AppServer, RecordingApp

COMPONENT = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {name}}}
spec:
  type: {type}
  version: v1
  metadata: {metadata}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (COMPONENT.format(name="s", type="state.cassandra", metadata="[]"), "spec.type"),
        ("kind: Component\nmetadata: {}\nspec: {type: state.sqlite}\n", "metadata.name"),
        ("kind: Component\nmetadata: {name: x\n", "not valid YAML"),
        (COMPONENT.format(name="c", type="bindings.cron", metadata="[]"), "spec.metadata.schedule"),
        (
            COMPONENT.format(
                name="c", type="bindings.cron", metadata="[{name: schedule, value: '61 * * * *'}]"
            ),
            "spec.metadata.schedule",
        ),
        (COMPONENT.format(name="s", type="state.sqlite", metadata="{a: 1}"), "spec.metadata"),
        (
            "kind: Resiliency\nmetadata: {name: r}\nspec:\n  targets:\n    components:\n"
            "      pubsub: {inbound: {retry: missing}}\n",
            "inbound.retry",
        ),
        (
            COMPONENT.format(
                name="s",
                type="state.sqlite",
                metadata="[{name: password, secretKeyRef: {name: pw, key: pw}}]",
            )
            + "auth: {secretStore: vault}\n",
            "auth.secretStore",
        ),
        ("apiVersion: v1\nkind: Subscription\nspec: {topic: t}\n", "spec.pubsubname"),
    ],
)
def test_malformed_resources_name_file_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    config = SidecarConfig(app_id="a", resources_paths=[tmp_path], db_path=":memory:")
    with pytest.raises(ComponentError) as err:
        Sidecar(config)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_unsupported_type_with_ignore_errors_is_skipped(tmp_path, caplog):
    """daprd logs a component that fails with `ignoreErrors: true` and starts without it."""
    lock = COMPONENT.format(name="cassandra-locks", type="lock.cassandra", metadata="[]")
    (tmp_path / "lock.yaml").write_text(lock + "  ignoreErrors: true\n")
    (tmp_path / "state.yaml").write_text(
        COMPONENT.format(name="kv", type="state.in-memory", metadata="[]")
    )
    res = load_resources([tmp_path], "me")
    assert "cassandra-locks" not in res.components and "kv" in res.components
    assert "Ignoring error processing component: process component cassandra-locks" in caplog.text
    assert "lock.cassandra" in caplog.text
    (tmp_path / "lock.yaml").write_text(lock)
    with pytest.raises(ComponentError) as err:
        load_resources([tmp_path], "me")
    assert str(tmp_path / "lock.yaml") in str(err.value) and "'lock.cassandra'" in str(err.value)


def test_defaults_and_scopes(tmp_path):
    (tmp_path / "other.yaml").write_text(
        COMPONENT.format(name="mine", type="state.in-memory", metadata="[]")
        + "scopes: [someone-else]\n"
    )
    res = load_resources([tmp_path], "me")
    assert {n: c.type for n, c in res.components.items()} == {
        "statestore": "state.sqlite",
        "pubsub": "pubsub.in-memory",
        "localsecretstore": "secretstores.local.env",
        "configstore": "configuration.sqlite",
        "lockstore": "lock.sqlite",
    }
    assert res.components["statestore"].flag("actorStateStore")


def test_default_resources_paths(tmp_path):
    (tmp_path / "components").mkdir()
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "bindings").mkdir()
    assert default_resources_paths(tmp_path / "functions") == [
        tmp_path / "components",
        tmp_path / "functions" / "bindings",
    ]


def _start_sidecar(db: Path, app_port: int, http: int, grpc_port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "funchost.sidecar.runner",
            "--app-id",
            "killapp",
            "--app-port",
            str(app_port),
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc_port),
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert json.loads(line)["grpc"] == grpc_port
    return proc


@pytest.mark.slow
def test_kill9_loses_nothing_acknowledged(tmp_path, monkeypatch):
    db = tmp_path / "sidecar.db"
    app_port, http, grpc_port = free_port(), free_port(), free_port()
    monkeypatch.setenv("DAPR_HTTP_PORT", str(http))
    proc = _start_sidecar(db, app_port, http, grpc_port)
    try:
        with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:
            for i in range(20):
                client.publish_event(
                    "pubsub", "jobs", json.dumps({"i": i}), data_content_type="application/json"
                )
            client.save_state("statestore", "acked", "kept")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    app = RecordingApp(subscriptions=[{"pubsubname": "pubsub", "topic": "jobs", "route": "/jobs"}])
    server = AppServer(app.asgi(), port=app_port).start()
    proc = _start_sidecar(db, app_port, http, grpc_port)
    try:
        got = app.wait_for("/jobs", 20, timeout=30)
        assert sorted(r.json()["data"]["i"] for r in got) == list(range(20))
        with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:
            assert client.get_state("statestore", "acked").data == b"kept"
    finally:
        proc.terminate()
        proc.wait(10)
        server.stop()
    assert proc.returncode == 0
    # Delivered rows are removed on a clean stop: nothing would be redelivered.
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM pubsub_outbox").fetchone()[0] == 0
