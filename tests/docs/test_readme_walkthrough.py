"""The README's quick start and its walkthrough ("The task agent in five minutes"), as written.

The commands run in bash in a copy of the task agent, on free ports: `funchost` reads them from
`FUNCHOST_APP_PORT` / `FUNCHOST_DAPR_HTTP_PORT` / `FUNCHOST_DAPR_GRPC_PORT`, and the app's
default address in the `curl` lines (`localhost:8000`) is replaced by the free one, so the test
passes while `funchost run functions/` holds the default ports. A `# ...` comment under a
command is the output the README promises: its fragments (split at `...`, whitespace ignored)
must appear in that order. A `curl` that only reads is repeated until its output matches, as a
reader waits ("wait 30 seconds"); any `curl` is repeated while nothing listens yet.

The quick start's two set-up commands run in a virtualenv (system site packages, so nothing is
downloaded but the build backend) with a copy of the repository; the suite's own command
collects the suite there (`--collect-only`): this run is the suite.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ._markdown import (
    REPO,
    Block,
    blocks,
    child_env,
    copy_project,
    free_port,
    matches,
    shown_output,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = "README.md"
QUICK_START = "Quick start"
WALKTHROUGH = "The task agent in five minutes"
DEFAULT_APP = "localhost:8000"
CONNECT_FAILED = 7  # curl's exit code when nothing listens


def quick_start() -> list[Block]:
    return [b for b in blocks(README) if b.chapter == QUICK_START and b.lang == "bash"]


def steps() -> dict[str, list[Block]]:
    """The walkthrough's numbered steps ("1. Run it" ...) and their blocks."""
    found: dict[str, list[Block]] = {}
    for block in blocks(README):
        if block.chapter == WALKTHROUGH and block.section[:1].isdigit() and not block.skip:
            found.setdefault(block.section.split(".")[0], []).append(block)
    return found


def claimed() -> set[str]:
    """Ids of the README blocks these tests run."""
    return {b.id for b in quick_start()} | {b.id for group in steps().values() for b in group}


@dataclass
class Command:
    """One shell command of a block and the output comment under it, if any."""

    text: str
    shown: list[str] = field(default_factory=list)

    @property
    def reads_only(self) -> bool:
        return "curl" in self.text and " -X " not in self.text

    @property
    def background(self) -> bool:
        return self.text.rstrip().endswith("&")


def commands(block: Block) -> list[Command]:
    """Split a bash block into commands (quotes and `\\` continuations joined)."""
    found: list[Command] = []
    pending = ""
    for line in block.text.splitlines():
        if pending:
            pending += "\n" + line
        elif not line.strip():
            continue
        elif line.lstrip().startswith("#"):
            if found:
                found[-1].shown.append(line)
            continue
        else:
            pending = line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if pending.rstrip().endswith("\\"):
            continue
        found.append(Command(pending))
        pending = ""
    assert not pending, f"{block.id}: unfinished command {pending!r}"
    return found


class Shell:
    """One bash, fed command by command, like a terminal (its background jobs included)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.transcript: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def run(self, text: str, timeout: float = 60) -> tuple[int, str]:
        """Run `text`; its exit status and everything printed meanwhile."""
        assert self.proc.stdin is not None
        marker = f"@@done-{uuid.uuid4().hex}@@"
        self.proc.stdin.write(f"{text}\necho {marker}$?\n")
        self.proc.stdin.flush()
        self.transcript.append(f"$ {text}")
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{text!r} still running after {timeout:.0f} s") from None
            if marker in line:
                before, _, status = line.partition(marker)
                out.append(before)
                self.transcript.append("".join(out))
                return int(status.strip() or "0"), "".join(out)
            out.append(line)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


class Walkthrough:
    """The reader: a project folder, free ports, a terminal for `funchost run`, one for curl."""

    def __init__(self, root: Path) -> None:
        self.root = copy_project(root, "functions", "components", "bindings")
        self.ports = {
            "app": free_port(),
            "http": free_port(),
            "grpc": free_port(),
            "dashboard": free_port(),
        }
        self.env = child_env(
            FUNCHOST_APP_PORT=str(self.ports["app"]),
            FUNCHOST_DAPR_HTTP_PORT=str(self.ports["http"]),
            FUNCHOST_DAPR_GRPC_PORT=str(self.ports["grpc"]),
            FUNCHOST_DASHBOARD_PORT=str(self.ports["dashboard"]),
        )
        self.shell = Shell(self.root, self.env)
        self.server: subprocess.Popen[str] | None = None
        self.server_log = root / "funchost-run.log"

    def adapt(self, text: str) -> str:
        return text.replace(DEFAULT_APP, f"localhost:{self.ports['app']}")

    def start(self, command: str) -> None:
        """Run a foreground `funchost run` in its own terminal; return once it is ready."""
        assert self.server is None
        with self.server_log.open("a") as log:
            self.server = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        url = f"http://127.0.0.1:{self.ports['http']}/v1.0/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server is not None and self.server.poll() is not None:
                raise AssertionError(f"funchost run exited:\n{self.server_log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 204:
                    return
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout} s:\n{self.server_log.read_text()}")

    def stop(self) -> None:
        """Ctrl-C in the terminal of `funchost run`."""
        if self.server is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.pid, signal.SIGINT)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=10)
        self.server = None

    def close(self) -> None:
        self.stop()
        self.shell.close()

    def run_block(self, block: Block, patience: float = 90) -> None:
        """Run each command of a bash block in the shell; check what the README says it prints."""
        for command in commands(block):
            text = self.adapt(command.text)
            fragments = shown_output(command.shown)
            deadline = time.monotonic() + patience
            while True:
                status, output = self.shell.run(text, timeout=patience)
                shown = status == 0 and (not fragments or matches(fragments, output))
                unreachable = "curl" in text and status == CONNECT_FAILED  # nothing received
                may_repeat = unreachable or (command.reads_only and status == 0)
                if shown or not may_repeat or time.monotonic() > deadline:
                    break
                time.sleep(1)  # as a reader would, before trying again
            where = f"{block.id}: {command.text.splitlines()[0]}"
            if status != 0 or (fragments and not matches(fragments, output)):
                print("\n".join(self.shell.transcript[-30:]))  # the terminal, shown on failure
            assert status == 0, f"{where} exited with {status}:\n{output}"
            assert not fragments or matches(fragments, output), (
                f"{where} printed\n{output}\nthe README shows\n" + "\n".join(command.shown)
            )


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Walkthrough]:
    walk = Walkthrough(tmp_path / "agent")
    try:
        yield walk
    finally:
        walk.close()


def _pip_lines(text: str) -> bool:
    return text.lstrip().startswith("python -m pip install")


def test_the_walkthrough_runs_as_written(reader: Walkthrough) -> None:
    by_step = steps()
    assert sorted(by_step) == ["1", "2", "3", "4", "5", "6"], sorted(by_step)

    # 1. Run it: (pip install is the quick start's test) `funchost run functions/`, then the
    # banner the README shows.
    (run_block, banner) = by_step["1"]
    (run,) = [c for c in commands(run_block) if not _pip_lines(c.text)]
    reader.start(run.text)
    printed = reader.server_log.read_text()
    for line in banner.text.splitlines():
        expected = line
        defaults = (("app", "8000"), ("http", "3500"), ("grpc", "50001"), ("dashboard", "8080"))
        for name, default in defaults:
            expected = expected.replace(f":{default}", f":{reader.ports[name]}")
        assert matches(shown_output([f"#{expected}"]), printed), (line, printed)

    # 2.-4.: in another terminal, while it runs.
    for step in ("2", "3", "4"):
        for block in by_step[step]:
            reader.run_block(block)

    # 5. "Start funchost in the background this time": the first one is stopped (Ctrl-C).
    reader.stop()
    (kill_block,) = by_step["5"]
    reader.run_block(kill_block)
    reader.shell.run("kill %% && wait", timeout=60)  # stop the background one (SIGTERM)

    # 6. The notifications binding refuses: its spec replaced by the README's, then a restart.
    (spec, saga) = by_step["6"]
    component = reader.root / "bindings" / "notifications.yaml"
    original = component.read_text()
    component.write_text(original[: original.index("\nspec:") + 1] + spec.text)
    reader.start(run.text)
    reader.run_block(saga)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX virtualenv layout")
def test_the_quick_start_commands_run_as_written(tmp_path: Path) -> None:
    install_and_run, install_and_test = quick_start()
    repo = tmp_path / "funchost"
    shutil.copytree(
        REPO,
        repo,
        ignore=shutil.ignore_patterns(
            ".git", ".funchost", "__pycache__", "site", "*.egg-info", ".venv", "build"
        ),
    )
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        timeout=120,
    )
    ports = {"FUNCHOST_APP_PORT": free_port(), "FUNCHOST_DAPR_HTTP_PORT": free_port()}
    env = child_env(
        **{k: str(v) for k, v in ports.items()}, FUNCHOST_DAPR_GRPC_PORT=str(free_port())
    )
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONPATH", None)  # the editable install in the virtualenv is what runs

    # `python -m pip install -e . && funchost run functions/`: runs until it is ready.
    log = tmp_path / "run.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bash", "-c", install_and_run.text],
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{ports['FUNCHOST_DAPR_HTTP_PORT']}/v1.0/healthz"
        deadline = time.monotonic() + 300
        ready = False
        while time.monotonic() < deadline and server.poll() is None and not ready:
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(url, timeout=2).status_code == 204
            time.sleep(0.5)
        assert ready, f"{install_and_run.id} did not get ready:\n{log.read_text()}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)

    # The suite's command: the extras install, then pytest collects the whole suite.
    result = subprocess.run(
        ["bash", "-c", install_and_test.text],
        cwd=repo,
        env={**env, "PYTEST_ADDOPTS": "--collect-only -q"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert " collected" in output, output[-5000:]
