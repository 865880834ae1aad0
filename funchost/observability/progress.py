"""Start-up progress for `funchost run`: what it is doing and how long each step took.

```python
progress = StartupProgress()
with progress.step("discovering functions"):
    registry = discover(path)
progress.note("12 functions")
```
A spinner in a terminal, plain lines otherwise (containers, CI); `FUNCHOST_PROGRESS=off` hides it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

__all__ = ["StartupProgress", "process_age"]


def process_age() -> float:
    """Seconds since this process started, interpreter start-up and imports included.

    Read from ``/proc/self/stat`` (Linux); 0.0 where that is not available.
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


class StartupProgress:
    """Prints each start-up step with its duration (`step()`), and the total (`finish()`)."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        enabled: bool | None = None,
        since_process_start: bool = False,
    ) -> None:
        self.console = console or Console(stderr=True)
        if enabled is None:
            enabled = os.environ.get("FUNCHOST_PROGRESS", "on").lower() not in ("off", "0", "false")
        self.enabled = enabled
        # since_process_start: `finish()` counts the interpreter's start-up and the imports too
        self.started = time.perf_counter() - (process_age() if since_process_start else 0.0)
        self.steps: list[tuple[str, float, bool]] = []

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run the block as one named step; prints ✓ / ✗ with its duration."""
        start = time.perf_counter()
        ok = False
        try:
            if self.enabled and self.console.is_terminal:
                with self.console.status(f"{what}…"):
                    yield
            else:
                yield
            ok = True
        finally:
            took = time.perf_counter() - start
            self.steps.append((what, took, ok))
            if self.enabled:
                mark = "[green]✓[/]" if ok else "[red]✗[/]"
                self.console.print(f"{mark} {what} [dim]({_fmt(took)})[/]", highlight=False)

    def note(self, text: str) -> None:
        """An indented detail line under the last step."""
        if self.enabled:
            self.console.print(f"  [dim]{text}[/]", highlight=False)

    def elapsed(self) -> float:
        """Seconds since this object was made (or the process started)."""
        return time.perf_counter() - self.started

    def finish(self, text: str = "ready") -> float:
        """Print the total time since this object was made (or the process started); return it."""
        total = time.perf_counter() - self.started
        if self.enabled:
            self.console.print(f"[bold green]{text}[/] [dim]in {_fmt(total)}[/]", highlight=False)
        return total

    def in_background(
        self, what: str, wait: Callable[[], Any], then: str = "ready"
    ) -> threading.Thread:
        """Run `wait()` (e.g. waiting for the app's health) in a thread as a step, then `finish`."""

        def run() -> None:
            try:
                with self.step(what):
                    wait()
            except Exception as exc:
                if self.enabled:
                    self.console.print(f"  [red]{exc}[/]", highlight=False)
                return
            self.finish(then)

        thread = threading.Thread(target=run, name="funchost-progress", daemon=True)
        thread.start()
        return thread


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
