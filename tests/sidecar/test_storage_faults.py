"""Storage faults on a real sidecar process: a lock held by another process, a full disk (file
size limit), a damaged WAL; and `funchost db check|backup|vacuum`."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from dapr.clients.exceptions import DaprGrpcError

from funchost.sidecar.store import Store, StoreDamaged
from funchost.sidecar.store_check import wal_damage
from tests.sidecar._procs import dapr_client, spawn_sidecar, stop

pytestmark = pytest.mark.slow


def _keys(db: Path, table: str = "state_statestore") -> dict[str, bytes]:
    conn = sqlite3.connect(db)
    try:
        return {str(k): bytes(v) for k, v in conn.execute(f"SELECT key, value FROM {table}")}
    finally:
        conn.close()


def test_a_lock_held_elsewhere_leaves_health_live_and_the_write_waits(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    proc, http, grpc_port = spawn_sidecar(db)
    try:
        with dapr_client(http, grpc_port) as client:
            client.save_state("statestore", "before", "1")
            other = sqlite3.connect(db, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process's write lock, held for 5 s
            other.execute("CREATE TABLE IF NOT EXISTS holder(x)")
            held_at = time.monotonic()
            saved: dict[str, object] = {}

            def save() -> None:
                try:
                    client.save_state("statestore", "during", "2")
                    saved["at"] = time.monotonic()
                except Exception as exc:  # reported below
                    saved["error"] = exc

            writer = threading.Thread(target=save, daemon=True)
            writer.start()
            took: list[float] = []
            with httpx.Client(base_url=f"http://127.0.0.1:{http}") as h:
                while time.monotonic() - held_at < 5.0:
                    start = time.monotonic()
                    assert h.get("/v1.0/healthz").status_code == 204
                    took.append(time.monotonic() - start)
                    assert h.get("/v1.0/state/statestore/before").content == b"1"  # reads stay live
                    time.sleep(0.1)
            assert "at" not in saved and "error" not in saved  # still waiting for the lock
            other.execute("COMMIT")
            other.close()
            writer.join(30)
            assert "error" not in saved, saved
            assert float(saved["at"]) - held_at >= 5.0  # type: ignore[arg-type]
            assert client.get_state("statestore", "during").data == b"2"
        # before the fix each took up to the 30 s busy timeout; a single sample of a busy
        # 2-core machine may be late by a scheduler hiccup, so: the median under 100 ms and
        # none near a second
        ms = sorted(round(t * 1000) for t in took)
        assert statistics.median(ms) < 100, f"healthz took {ms} ms while the lock was held"
        assert ms[-1] < 1000, f"healthz took {ms} ms while the lock was held"
    finally:
        code, err = stop(proc)
    assert code == 0, err


def test_start_up_names_the_file_and_the_lock_holder(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    Store(db, exclusive=True).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(Exception) as err:
            spawn_sidecar(db)
        message = str(err.value)
        assert str(db) in message and f"pid {holder.pid}" in message, message
    finally:
        holder.kill()
        holder.wait(10)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (3 * 1024 * 1024, 3 * 1024 * 1024))


def test_disk_full_is_a_dapr_error_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    # no tmpfs without privileges in CI: a 3 MiB file-size limit (ulimit -f) on the sidecar
    proc, http, grpc_port = spawn_sidecar(db, preexec_fn=_limit_file_size)
    acknowledged: dict[str, str] = {}
    value = "x" * 100_000
    failure: DaprGrpcError | None = None
    try:
        with dapr_client(http, grpc_port) as client:
            for i in range(100):
                try:
                    client.save_state("statestore", f"k{i}", f"{i}:{value}")
                except DaprGrpcError as exc:
                    failure = exc
                    break
                acknowledged[f"k{i}"] = f"{i}:{value}"
        assert failure is not None, "100 x 100 KB fitted under a 3 MiB file-size limit"
        assert failure.code().name == "INTERNAL"
        assert "state store statestore" in (failure.details() or ""), failure.details()
        resp = httpx.post(
            f"http://127.0.0.1:{http}/v1.0/state/statestore",
            json=[{"key": "more", "value": value}],
            timeout=30,
        )
        assert resp.status_code == 500 and resp.headers["content-type"] == "application/json"
        body = resp.json()
        assert body["errorCode"] == "ERR_STATE_SAVE", body
        assert "statestore" in body["message"] and "disk" in body["message"], body
        assert httpx.get(f"http://127.0.0.1:{http}/v1.0/healthz").status_code == 204
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    stored = _keys(db)
    assert len(acknowledged) >= 5
    for key, val in acknowledged.items():
        assert stored.get(key) == val.encode(), f"acknowledged {key} lost"


def _fill_and_kill(db: Path, count: int = 200) -> None:
    proc, http, grpc_port = spawn_sidecar(db)
    try:
        with dapr_client(http, grpc_port) as client:
            for i in range(count):
                client.save_state("statestore", f"k{i}", f"value-{i}")
    finally:
        proc.send_signal(signal.SIGKILL)  # no checkpoint: everything is in the -wal
        proc.wait(10)


def test_noise_in_the_wal_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    _fill_and_kill(db)
    wal = Path(f"{db}-wal")
    assert wal_damage(db) is None  # kill -9 alone is not damage
    size = wal.stat().st_size
    with wal.open("r+b") as f:
        f.seek(size // 3)
        f.write(os.urandom(8192))
    damage = wal_damage(db)
    assert damage is not None and damage.dropped_commits > 0
    with pytest.raises(StoreDamaged) as err:
        Store(db, exclusive=True)
    assert str(wal) in str(err.value) and "funchost db" in str(err.value)
    cli = [sys.executable, "-c", "from funchost.cli import main; main()"]
    out = subprocess.run(
        [*cli, "sidecar", "--app-id", "app", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "damaged" in out.stderr, out.stderr
    check = subprocess.run([*cli, "db", "check", str(db)], capture_output=True, text=True)
    assert check.returncode == 1 and "damaged" in check.stderr, check.stderr
    salvage = subprocess.run(
        [*cli, "db", "check", "--salvage", str(db)], capture_output=True, text=True
    )
    assert salvage.returncode == 0, salvage.stderr
    Store(db, exclusive=True).close()  # starts again, with what SQLite could keep


def test_db_backup_of_a_running_app_and_vacuum(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    proc, http, grpc_port = spawn_sidecar(db)
    cli = [sys.executable, "-c", "from funchost.cli import main; main()"]
    try:
        with dapr_client(http, grpc_port) as client:
            for i in range(50):
                client.save_state("statestore", f"k{i}", f"v{i}")
            copy = tmp_path / "backup.db"
            out = subprocess.run([*cli, "db", "backup", str(db), str(copy)], capture_output=True)
            assert out.returncode == 0, out.stderr
            assert len(_keys(copy)) == 50 and not Path(f"{copy}-wal").exists()
            vac = subprocess.run([*cli, "db", "vacuum", str(db)], capture_output=True, text=True)
            assert vac.returncode == 0, vac.stderr
            client.save_state("statestore", "after", "1")  # the app keeps working
            check = subprocess.run([*cli, "db", "check", str(db)], capture_output=True, text=True)
            assert check.returncode == 0 and "ok" in check.stdout, check.stderr
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert len(_keys(db)) == 51
