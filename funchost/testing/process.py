"""A child process whose output goes to a log file (the subprocess stack, a real daprd).

`LoggedProcess` starts it, waits for a readiness probe (failing early with the log's tail when
the process exits), stops it (SIGTERM, then SIGKILL) and writes the log to stderr at the end, so
a failing test shows what the child said.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class LoggedProcess:
    """One child process (`label` names it in errors) logging to `log_path`."""

    def __init__(self, label: str, log_path: Path) -> None:
        self.label = label
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, cmd: Sequence[str], **popen: Any) -> None:
        """Start `cmd` with stdout and stderr appended to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **popen)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, limit: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def wait_until(
        self,
        probe: Callable[[], bool],
        what: str,
        timeout: float,
        *,
        interval: float = 0.1,
        errors: tuple[type[Exception], ...] = (),
    ) -> None:
        """Poll `probe` until true; RuntimeError (with the log) when the process exits first or
        `timeout` passes. `errors` raised by the probe count as "not yet"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with code {self.proc.returncode} before it could "
                    f"{what}; its log ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                if probe():
                    return
            except errors:
                pass
            time.sleep(interval)
        raise RuntimeError(
            f"{self.label} did not {what} within {timeout:.0f}s; "
            f"its log ({self.log_path}):\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL (a crash) and reap."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 30 s; then write the log to stderr."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        text = self.log_tail(20000)
        if text.strip():
            sys.stderr.write(f"--- {self.label} log ({self.log_path}) ---\n{text}\n")
