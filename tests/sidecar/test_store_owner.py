"""One sidecar per database: a second one fails at start-up; the lock dies with its owner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from funchost.sidecar.store import Store, StoreInUse


def test_a_second_owner_is_refused_with_the_file_and_pid(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    first = Store(db, exclusive=True)
    try:
        with pytest.raises(StoreInUse) as err:
            Store(db, exclusive=True)
        assert str(db) in str(err.value) and "pid" in str(err.value)
        reader = Store(db)  # readers (funchost outbox on the file) need no lock
        reader.close()
    finally:
        first.close()
    Store(db, exclusive=True).close()  # released on close


def test_the_lock_is_released_when_its_process_is_killed(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    code = (
        "import sys, time; from funchost.sidecar.store import Store; "
        f"s = Store({str(db)!r}, exclusive=True); print('owned', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "owned"
        with pytest.raises(StoreInUse):
            Store(db, exclusive=True)
    finally:
        proc.kill()
        proc.wait(10)
    Store(db, exclusive=True).close()  # kill -9 leaves no stale lock
