"""kill -9 of sidecar + worker at awkward moments; the restarted process finishes every workflow.

Each activity logs its start and end: an activity whose completion was committed never runs again,
and at most the one in flight at the kill runs twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

APP = Path(__file__).with_name("_crash_app.py")


def _spawn(tmp: Path, scenario: str, phase: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(APP), str(tmp / "wf.db"), str(tmp / "log"), scenario, phase],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _log(tmp: Path) -> list[str]:
    path = tmp / "log"
    return path.read_text().splitlines() if path.exists() else []


def _kill_when(tmp: Path, scenario: str, line: str, delay: float = 0.0) -> None:
    proc = _spawn(tmp, scenario, "start")
    try:
        deadline = time.monotonic() + 30
        while line not in _log(tmp):
            assert proc.poll() is None, "the app exited before the kill"
            assert time.monotonic() < deadline, f"never saw {line!r} in {_log(tmp)}"
            time.sleep(0.01)
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _resume(tmp: Path, scenario: str) -> dict[str, object]:
    proc = _spawn(tmp, scenario, "resume")
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_kill_during_an_activity(tmp_path: Path) -> None:
    _kill_when(tmp_path, "during", "start s2")
    result = _resume(tmp_path, "during")
    assert result == {"status": "COMPLETED", "output": json.dumps(["S1", "S2", "S3"])}
    counts = Counter(_log(tmp_path))
    assert counts["start s1"] == counts["end s1"] == 1  # committed: never re-run
    assert counts["start s2"] == 2 and counts["end s2"] == 1  # the interrupted one re-ran
    assert counts["start s3"] == counts["end s3"] == 1


def test_kill_between_activities(tmp_path: Path) -> None:
    _kill_when(tmp_path, "between", "end s3")
    result = _resume(tmp_path, "between")
    expected = [f"S{i}" for i in range(1, 7)]
    assert result == {"status": "COMPLETED", "output": json.dumps(expected)}
    counts = Counter(line.split()[1] for line in _log(tmp_path) if line.startswith("end"))
    assert set(counts) == {f"s{i}" for i in range(1, 7)}
    assert counts["s1"] == counts["s2"] == 1  # committed long before the kill
    reruns = [name for name, n in counts.items() if n > 1]
    assert len(reruns) <= 1 and all(n <= 2 for n in counts.values())


def test_kill_while_a_timer_is_pending(tmp_path: Path) -> None:
    _kill_when(tmp_path, "timer", "end s1", delay=0.4)
    result = _resume(tmp_path, "timer")
    assert result == {"status": "COMPLETED", "output": json.dumps(["S1", "S2"])}
    counts = Counter(_log(tmp_path))
    assert counts["end s1"] == 1
    assert counts["end s2"] == 1


def test_kill_during_fan_out(tmp_path: Path) -> None:
    _kill_when(tmp_path, "fanout", "end f5")
    result = _resume(tmp_path, "fanout")
    assert result["status"] == "COMPLETED"
    assert json.loads(str(result["output"])) == sorted(f"F{i}" for i in range(30))
    counts = Counter(line.split()[1] for line in _log(tmp_path) if line.startswith("end"))
    assert set(counts) == {f"f{i}" for i in range(30)}
