"""Start every app of a run template, prefix their logs, stop them all in order.

A functions folder (no `command`) runs as `funchost run <folder>` (app + embedded sidecar in one
process). Any other app runs its `command` (in `appDirPath`) next to its own `funchost sidecar`,
started first (`appProtocol: grpc` gives it `--app-protocol grpc`, so a `dapr.ext.grpc.App` is
called over gRPC; the app health-check fields become its options, `configFilePath` is `--config`
of either kind); the app gets `APP_ID`, `APP_PORT`, `APP_PROTOCOL`, `DAPR_HTTP_PORT`,
`DAPR_GRPC_PORT` as `dapr run` sets them. Apps start in file order, each once its sidecar answers
`/v1.0/healthz/outbound`. Every child runs in its own session, so a terminal's Ctrl-C reaches only
this process, which then stops the apps (SIGTERM, they drain), then the sidecars.

Logs: app lines as `== APP - <id> == <line>`, sidecar lines as `== DAPR - <id> == <line>`, to
the console and/or `<appDirPath>/.dapr/logs/<id>_{app,daprd}_<timestamp>.log` per
`appLogDestination` (default fileAndConsole) and `daprdLogDestination` (default file).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from .model import AppSpec, RunFile

FUNCHOST = [sys.executable, "-c", "from funchost.cli import main; main()"]
Printer = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Proc:
    """A child process and where its lines go."""

    kind: str  # "APP" or "DAPR"
    app_id: str
    popen: subprocess.Popen[bytes]
    pump: threading.Thread | None = None


@dataclass
class _Started:
    spec: AppSpec
    http_port: int
    grpc_port: int
    app_port: int | None
    app: _Proc | None = None
    sidecar: _Proc | None = None


@dataclass
class Launcher:
    """Runs the apps of one run template until stopped."""

    run_file: RunFile
    state_dir: Path
    log_level: str = "info"
    print_line: Printer = field(default=lambda line: print(line, flush=True))
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    started: list[_Started] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stamp: str = field(default_factory=lambda: datetime.now().strftime("%Y%m%d%H%M%S"))

    # -- logs ---------------------------------------------------------------------------------
    def _log_file(self, spec: AppSpec, kind: str, destination: str) -> IO[str] | None:
        if destination == "console":
            return None
        folder = spec.app_dir / ".dapr" / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        name = "app" if kind == "APP" else "daprd"
        return open(folder / f"{spec.app_id}_{name}_{self._stamp}.log", "a")

    def _pump(self, proc: _Proc, spec: AppSpec) -> None:
        destination = spec.app_log_destination if proc.kind == "APP" else spec.daprd_log_destination
        to_console = destination in ("console", "fileAndConsole")
        sink = self._log_file(spec, proc.kind, destination)
        prefix = f"== {proc.kind} - {proc.app_id} == "
        stream = proc.popen.stdout
        assert stream is not None
        tail: list[str] = []
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail = [*tail[-19:], line]
                if sink is not None:
                    sink.write(line + "\n")
                    sink.flush()
                if to_console:
                    with self._lock:
                        self.print_line(prefix + line)
        finally:
            if sink is not None:
                sink.close()
        code = proc.popen.wait()
        if not to_console and code not in (0, -signal.SIGTERM, -signal.SIGINT, 130, 143):
            with self._lock:  # a sidecar that failed: show why even when logging to a file
                for line in tail:
                    self.print_line(prefix + line)
        if not self.stopping.is_set():
            with self._lock:
                self.print_line(f"{prefix}exited with code {code}")

    def _spawn(self, kind: str, spec: AppSpec, args: list[str], env: dict[str, str]) -> _Proc:
        popen = subprocess.Popen(
            args,
            cwd=spec.app_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
            preexec_fn=_die_with_parent,
        )
        proc = _Proc(kind, spec.app_id, popen)
        proc.pump = threading.Thread(target=self._pump, args=(proc, spec), daemon=True)
        proc.pump.start()
        return proc

    # -- start --------------------------------------------------------------------------------
    def _env(
        self, spec: AppSpec, http_port: int, grpc_port: int, app_port: int | None
    ) -> dict[str, str]:
        env = dict(os.environ)
        if env.get("PYTHONPATH"):  # apps run in their appDirPath: keep relative entries valid
            env["PYTHONPATH"] = os.pathsep.join(
                os.path.abspath(p) if p else p for p in env["PYTHONPATH"].split(os.pathsep)
            )
        env.update(spec.env)
        env.update(
            {
                "APP_ID": spec.app_id,
                "APP_PROTOCOL": spec.app_protocol,
                "DAPR_HTTP_PORT": str(http_port),
                "DAPR_GRPC_PORT": str(grpc_port),
                "DAPR_HOST_IP": env.get("DAPR_HOST_IP", "127.0.0.1"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if app_port is not None:
            env["APP_PORT"] = str(app_port)
        return env

    def _common_args(self, spec: AppSpec, http_port: int, grpc_port: int) -> list[str]:
        args = [
            "--app-id", spec.app_id,
            "--dapr-http-port", str(http_port),
            "--dapr-grpc-port", str(grpc_port),
            "--state-dir", str(self.state_dir),
        ]  # fmt: skip
        for res in spec.resources:
            args += ["--resources-path", str(res)]
        if spec.config_file is not None:
            args += ["--config", str(spec.config_file)]
        return args

    @staticmethod
    def _channel_args(spec: AppSpec) -> list[str]:
        """A command app's sidecar: its `--app-protocol` and health-check options."""
        args = ["--app-protocol", spec.app_channel]
        if spec.enable_app_health_check:
            args.append("--enable-app-health-check")
        for flag, value in (
            ("--app-health-check-path", spec.app_health_path),
            ("--app-health-probe-interval", spec.app_health_probe_interval),
            ("--app-health-probe-timeout", spec.app_health_probe_timeout),
            ("--app-health-threshold", spec.app_health_threshold),
        ):
            if value is not None:
                args += [flag, str(value)]
        return args

    def start_app(self, spec: AppSpec) -> _Started:
        """Start one app (and its sidecar) and wait until its sidecar answers."""
        http_port = spec.dapr_http_port or _free_port()
        grpc_port = spec.dapr_grpc_port or _free_port()
        if spec.is_functions_folder:
            app_port = spec.app_port or _free_port()
            env = self._env(spec, http_port, grpc_port, app_port)
            args = [
                *FUNCHOST, "run", str(spec.app_dir),
                *self._common_args(spec, http_port, grpc_port),
                "--port", str(app_port),
                "--log-level", spec.log_level or self.log_level,
            ]  # fmt: skip
            run = _Started(spec, http_port, grpc_port, app_port)
            run.app = self._spawn("APP", spec, args, env)
            self.started.append(run)
            self._wait_ready(run, run.app, with_app=True)
            return run
        env = self._env(spec, http_port, grpc_port, spec.app_port)
        args = [
            *FUNCHOST, "sidecar",
            *self._common_args(spec, http_port, grpc_port),
            *self._channel_args(spec),
        ]  # fmt: skip
        if spec.app_port is not None:
            args += ["--app-port", str(spec.app_port)]
        run = _Started(spec, http_port, grpc_port, spec.app_port)
        run.sidecar = self._spawn("DAPR", spec, args, env)
        self.started.append(run)
        self._wait_ready(run, run.sidecar)
        assert spec.command is not None
        try:
            run.app = self._spawn("APP", spec, spec.command, env)
        except OSError as exc:
            raise StartError(
                f"{self.run_file.path}:{spec.line}: apps: command {spec.command!r} of "
                f"{spec.app_id!r} did not start: {exc.strerror or exc}"
            ) from None
        if spec.app_port is not None:
            self._wait_ready(run, run.app, with_app=True)
        return run

    def _wait_ready(self, run: _Started, proc: _Proc, with_app: bool = False) -> None:
        """Until the sidecar answers (`with_app`: and has found its app): daprd's health API."""
        probe = "/v1.0/healthz" if with_app else "/v1.0/healthz/outbound"
        url = f"http://127.0.0.1:{run.http_port}{probe}"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            if proc.popen.poll() is not None:
                if proc.pump is not None:
                    proc.pump.join(5)
                raise StartError(
                    f"{self.run_file.path}:{run.spec.line}: app {run.spec.app_id!r} stopped "
                    f"while starting (exit code {proc.popen.returncode}): see its log above"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:  # loopback only
                    if resp.status == 204:
                        return
            except OSError:
                pass
            self.stopping.wait(0.1)
        if not self.stopping.is_set():
            raise StartError(
                f"{self.run_file.path}:{run.spec.line}: the sidecar of {run.spec.app_id!r} did not "
                f"answer on port {run.http_port} within {self.start_timeout:.0f}s"
            )

    # -- run and stop -------------------------------------------------------------------------
    def _alive(self) -> list[_Proc]:
        procs = [p for r in self.started for p in (r.app, r.sidecar) if p is not None]
        return [p for p in procs if p.popen.poll() is None]

    def wait(self) -> None:
        """Block until stopped (signal) or every process has exited."""
        while not self.stopping.is_set() and self._alive():
            self.stopping.wait(0.2)

    def stop(self) -> None:
        """Apps first (SIGTERM: they drain), then sidecars; kill what outlives `stop_timeout`."""
        self.stopping.set()
        apps = [r.app for r in reversed(self.started) if r.app is not None]
        sidecars = [r.sidecar for r in reversed(self.started) if r.sidecar is not None]
        for group, what in ((apps, "apps"), (sidecars, "sidecars")):
            live = [p for p in group if p.popen.poll() is None]
            if not live:
                continue
            with self._lock:
                self.print_line(f"funchost: stopping {what}: {', '.join(p.app_id for p in live)}")
            for proc in live:
                _signal(proc.popen, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout
            for proc in live:
                try:
                    proc.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal(proc.popen, signal.SIGKILL)
                    proc.popen.wait(5)
        for proc in [*apps, *sidecars]:
            if proc.pump is not None:
                proc.pump.join(5)


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the launcher dies (even by kill -9), so no app is orphaned
    (Linux `PR_SET_PDEATHSIG`; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class StartError(Exception):
    """An app of the run template did not start."""


def _signal(popen: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)  # the child's own session: its children too
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(sig)


def run_apps(
    run_file: RunFile,
    *,
    state_dir: Path | None = None,
    log_level: str = "info",
    print_line: Printer | None = None,
) -> int:
    """Run every app of `run_file` until Ctrl-C / SIGTERM; 0 when stopped, 1 if one failed to
    start (everything started is stopped again)."""
    launcher = Launcher(
        run_file,
        state_dir=(state_dir or run_file.path.parent / ".funchost").resolve(),
        log_level=log_level,
    )
    if print_line is not None:
        launcher.print_line = print_line
    launcher.state_dir.mkdir(parents=True, exist_ok=True)
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: launcher.stopping.set())
    code = 0
    try:
        for spec in run_file.apps:
            if launcher.stopping.is_set():
                break
            run = launcher.start_app(spec)
            what = "functions folder" if spec.is_functions_folder else " ".join(spec.command or [])
            launcher.print_line(
                f"funchost: started {spec.app_id!r} ({what}) sidecar HTTP {run.http_port} "
                f"gRPC {run.grpc_port}" + (f" app port {run.app_port}" if run.app_port else "")
            )
        if not launcher.stopping.is_set():
            launcher.print_line(
                f"funchost: {len(run_file.apps)} app{'s' if len(run_file.apps) != 1 else ''} "
                "running; Ctrl-C stops them all"
            )
        launcher.wait()
    except StartError as exc:
        launcher.print_line(f"error: {exc}")
        code = 1
    finally:
        launcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
