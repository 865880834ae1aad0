"""SIGTERM (Docker, systemd, Kubernetes) stops `funchost run` (also with --reload) and
`funchost sidecar` as Ctrl-C does:
graceful drain, the sidecar's shutdown, the database checkpointed, exit 0. The `.db` alone, copied
without its `-wal`, holds every acknowledged write."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
from dapr.clients import DaprClient

from funchost.sidecar import free_port
from tests.host.conftest import SAMPLES
from tests.host.test_cli_processes import _spawn, _wait_invoke

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("command", ["run", "run --reload", "sidecar"])
def test_sigterm_exits_0_with_a_checkpointed_database(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    state = tmp_path / "state"
    if command.startswith("run"):
        argv = ["run", str(SAMPLES / "shutdown_order"), "--port", str(app_port)]
        argv += ["--app-id", "sigterm", "--no-plugins", *command.split()[1:]]
    else:
        argv = ["sidecar", "--app-id", "sigterm"]
    argv += ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)]
    argv += ["--state-dir", str(state)]
    proc = _spawn(argv, tmp_path, env={"SHUTDOWN_TEST_DIR": str(tmp_path)})
    try:
        _wait_invoke(f"http://127.0.0.1:{http_port}/v1.0/healthz")
        monkeypatch.setenv("DAPR_HTTP_PORT", str(http_port))
        with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:
            for i in range(100):
                client.save_state("statestore", f"k{i}", f"v{i}")
        db = state / "sigterm.db"
        assert Path(f"{db}-wal").stat().st_size > 0  # before: the writes sit in the WAL
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not checkpointed"
    alone = tmp_path / "copy" / "sigterm.db"
    alone.parent.mkdir()
    shutil.copyfile(db, alone)  # the .db alone, as a naive backup would copy it
    assert not os.path.exists(f"{alone}-wal")
    conn = sqlite3.connect(alone)
    try:
        rows = dict(conn.execute("SELECT key, value FROM state_statestore").fetchall())
    finally:
        conn.close()
    assert {k: bytes(v) for k, v in rows.items()} == {f"k{i}": f"v{i}".encode() for i in range(100)}
