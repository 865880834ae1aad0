"""`sidecar="daprd"`: the same tests against a real `daprd` found on PATH.

The app runs in-process (an `AppServer` thread); `daprd` runs as a child process with the
runtime's app id, ports and resources folders. Extra flags (placement / scheduler addresses,
config file) come from `FUNCHOST_DAPRD_ARGS`. There is no virtual clock and no view into daprd's
internals: `advance()`, `dead_letters()` and `outbox()` are skipped, `idle()` is best effort.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import time
from typing import TYPE_CHECKING, Any

from funchost.testing.appserver import AppServer, stack_env, wait_for_host_startup
from funchost.testing.process import LoggedProcess

if TYPE_CHECKING:
    from funchost.testing.base import RuntimeView


def daprd_command(
    daprd: str, *, app_id: str, app_port: int, http_port: int, grpc_port: int, resources: list[Any]
) -> list[str]:
    """The daprd command line for one runtime (flags as the Dapr CLI passes them)."""
    cmd = [
        daprd,
        "--app-id",
        app_id,
        "--app-port",
        str(app_port),
        "--app-protocol",
        "http",
        "--dapr-http-port",
        str(http_port),
        "--dapr-grpc-port",
        str(grpc_port),
        "--log-level",
        os.environ.get("FUNCHOST_DAPRD_LOG_LEVEL", "warn"),
    ]
    for path in resources:
        cmd += ["--resources-path", str(path)]
    cmd += shlex.split(os.environ.get("FUNCHOST_DAPRD_ARGS", ""))
    return cmd


class DaprdStack:
    """A real daprd child process plus the app in a thread."""

    def __init__(self, runtime: RuntimeView) -> None:
        self.rt = runtime
        self.process = LoggedProcess("daprd", runtime.db_path.parent / "daprd.log")
        self.app: AppServer | None = None
        self.ports: dict[str, int] = {}

    def env(self) -> dict[str, str]:
        ports = self.ports
        return stack_env(self.rt.app_id, ports["http"], ports["grpc"], ports["app"])

    def start(self) -> None:
        """Start daprd, then the app; retry on fresh ports when one was taken meanwhile."""
        for attempt in range(3):
            try:
                self._start_once()
                return
            except (RuntimeError, OSError) as exc:
                text = f"{exc}\n{self.process.log_tail()}".lower()
                if "address already in use" not in text or attempt == 2:
                    raise
                self._kill_quietly()
                self.ports = {}

    def _kill_quietly(self) -> None:
        if self.app is not None:
            self.app.kill(timeout=10)
            self.app = None
        self.process.kill()

    def _start_once(self) -> None:
        import httpx

        from funchost.sidecar import free_port

        daprd = shutil.which("daprd")
        if daprd is None:
            raise FileNotFoundError("sidecar='daprd': no `daprd` executable on PATH")
        if not self.ports:
            self.ports = {"http": free_port(), "grpc": free_port(), "app": free_port()}
        os.environ.update(self.env())
        cmd = daprd_command(
            daprd,
            app_id=self.rt.app_id,
            app_port=self.ports["app"],
            http_port=self.ports["http"],
            grpc_port=self.ports["grpc"],
            resources=list(self.rt.resources),
        )
        self.process.spawn(cmd)
        base = f"http://127.0.0.1:{self.ports['http']}/v1.0"
        self._wait(lambda: httpx.get(f"{base}/healthz/outbound", timeout=2).is_success, "start")
        app = self.rt._app_factory()()
        self.app = AppServer(app, self.ports["app"], log_level=self.rt.log_level)
        self.app.start(timeout=self.rt.ready_timeout)
        self._wait(lambda: httpx.get(f"{base}/healthz", timeout=2).is_success, "reach the app")
        wait_for_host_startup(app, self.rt.ready_timeout)

    def _wait(self, probe: Any, what: str) -> None:
        import httpx

        self.process.wait_until(probe, what, self.rt.ready_timeout, errors=(httpx.HTTPError,))

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()
        self.process.stop()

    def restart_after_crash(self) -> None:
        self.process.kill()
        if self.app is not None:
            self.app.kill()
            self.app = None
        self.start()

    async def idle(self, timeout: float = 30.0) -> None:
        """Best effort: the app handled no request for a short quiet period."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 5:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app is still handling requests after {timeout:.0f}s")
            quiet = quiet + 1 if self.app is None or self.app.inflight == 0 else 0
            await asyncio.sleep(0.05)

    async def advance(self, seconds: float) -> float:  # pragma: no cover - guarded by LocalRuntime
        from funchost.testing.base import NeedsVirtualClock

        raise NeedsVirtualClock("advance() needs the embedded sidecar's virtual clock")

    def now(self) -> float:
        return time.time()

    async def dead_letters(self, topic: str) -> list[Any]:
        from funchost.testing.base import NeedsEmbeddedSidecar

        raise NeedsEmbeddedSidecar("dead_letters() reads the embedded sidecar's store, not daprd's")

    async def outbox(self, binding: str) -> list[Any]:
        from funchost.testing.base import NeedsEmbeddedSidecar

        raise NeedsEmbeddedSidecar("outbox() reads the embedded sidecar's outbox, not daprd's")

    async def send_binding(self, name: str, data: Any, metadata: dict[str, str]) -> Any:
        """POST the event to the app as daprd delivers an input binding."""
        import httpx

        from funchost.testing.inspection import BindingReply, _decode, _encode

        body, content_type = _encode(data)
        async with httpx.AsyncClient(timeout=60.0) as client:
            resp = await client.post(
                f"http://127.0.0.1:{self.ports['app']}/{name}",
                content=body,
                headers={"Content-Type": content_type, **metadata},
            )
        return BindingReply(resp.status_code, _decode(resp.content))
