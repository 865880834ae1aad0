"""`mode="subprocess"`: the sidecar and the app in a child process that a test can SIGKILL.

The child (`python -m funchost.testing.subprocess_stack SPEC_JSON`) runs an `EmbeddedStack` and
serves a few test-only control routes on the sidecar's HTTP port (`/v1.0-funchost-testing/...`:
status, idle, advance, dead letters, outbox, input bindings). `ChildStack` is the parent side.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funchost.testing.appserver import stack_env
from funchost.testing.process import LoggedProcess

if TYPE_CHECKING:
    from funchost.testing.base import RuntimeView

PREFIX = "/v1.0-funchost-testing"


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode()}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# -- child side -----------------------------------------------------------------------------


def _control_subsystem(stack: Any) -> Any:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from funchost.sidecar import Subsystem
    from funchost.testing.embedded import settle
    from funchost.testing.inspection import dead_letters, outbox, send_binding

    def reply(value: Any, status: int = 200) -> Response:
        return Response(
            json.dumps(value, default=_jsonable), status_code=status, media_type="application/json"
        )

    class Control(Subsystem):
        name = "funchost-testing"
        ready = False

        def routes(self) -> list[Any]:
            return [
                Route(f"{PREFIX}/status", self.status, methods=["GET"]),
                Route(f"{PREFIX}/idle", self.idle, methods=["POST"]),
                Route(f"{PREFIX}/advance", self.advance, methods=["POST"]),
                Route(f"{PREFIX}/dead-letters/{{topic}}", self.dead_letters, methods=["GET"]),
                Route(f"{PREFIX}/outbox/{{binding}}", self.outbox, methods=["GET"]),
                Route(f"{PREFIX}/bindings/{{name}}", self.binding, methods=["POST"]),
            ]

        def _now(self) -> float:
            return float(self.sidecar.clock.time())

        async def status(self, request: Request) -> Response:
            return JSONResponse({"ready": Control.ready, "now": self._now(), "pid": os.getpid()})

        async def idle(self, request: Request) -> Response:
            timeout = float(request.query_params.get("timeout", "30"))
            try:
                await settle(self.sidecar, stack.inflight, timeout)
            except TimeoutError as exc:
                return reply({"error": str(exc)}, 504)
            return reply({"now": self._now()})

        async def advance(self, request: Request) -> Response:
            clock: Any = self.sidecar.clock  # a VirtualClock: the parent checked is_virtual
            await clock.advance(float(request.query_params["seconds"]))
            try:
                await settle(self.sidecar, stack.inflight)
            except TimeoutError as exc:
                return reply({"error": str(exc)}, 504)
            return reply({"now": self._now()})

        async def dead_letters(self, request: Request) -> Response:
            try:
                return reply(await dead_letters(self.sidecar, request.path_params["topic"]))
            except NotImplementedError as exc:
                return reply({"error": str(exc)}, 501)

        async def outbox(self, request: Request) -> Response:
            try:
                return reply(await outbox(self.sidecar, request.path_params["binding"]))
            except NotImplementedError as exc:
                return reply({"error": str(exc)}, 501)

        async def binding(self, request: Request) -> Response:
            doc = await request.json()
            data = doc["data"]
            if isinstance(data, dict) and set(data) == {"base64"}:
                data = base64.b64decode(data["base64"])
            try:
                result = await send_binding(
                    self.sidecar, request.path_params["name"], data, doc.get("metadata") or {}
                )
            except Exception as exc:
                return reply({"error": str(exc)}, 400)
            return reply({"status": result.status, "data": result.data})

    return Control


def main(argv: list[str] | None = None) -> None:
    """Child entry point: start the stack, serve until SIGTERM."""
    from funchost.testing.apps import functions_app_factory, load_app
    from funchost.testing.embedded import EmbeddedStack, StackConfig

    spec = json.loads((argv or sys.argv[1:])[0])
    if spec.get("functions_path"):
        factory = functions_app_factory(Path(spec["functions_path"]))
    else:
        ref = spec["app"]
        factory = lambda: load_app(ref)  # noqa: E731
    holder: dict[str, Any] = {}
    config = StackConfig(
        app_factory=factory,
        db_path=Path(spec["db_path"]),
        app_id=spec["app_id"],
        resources=[Path(p) for p in spec["resources"]],
        virtual=spec["virtual"],
        clock_start=spec.get("clock_start"),
        http_port=spec["http_port"],
        grpc_port=spec["grpc_port"],
        app_port=spec["app_port"],
        ready_timeout=spec["ready_timeout"],
        log_level=spec["log_level"],
        retry_ports=False,
        extra_subsystems=[lambda sidecar: holder["control"](sidecar)],
    )
    stack = EmbeddedStack(config)
    holder["control"] = _control_subsystem(stack)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack.start()
    holder["control"].ready = True
    stop.wait()
    stack.stop()


# -- parent side ----------------------------------------------------------------------------


def _pythonpath() -> str:
    """The parent's import path, so the child imports the same modules (rootdir, conftest dirs)."""
    entries = [p for p in sys.path if p and Path(p).exists()]
    return os.pathsep.join(dict.fromkeys(entries))


class ChildStack:
    """Runs the sidecar + app in a child process; crash = SIGKILL."""

    def __init__(self, runtime: RuntimeView) -> None:
        self.rt = runtime
        self.process = LoggedProcess(
            "the funchost child process", runtime.db_path.parent / "funchost-child.log"
        )
        self.ports: dict[str, int] = {}
        self._now: float | None = None

    def env(self) -> dict[str, str]:
        ports = self.ports
        return stack_env(self.rt.app_id, ports["http"], ports["grpc"], ports["app"])

    @property
    def _base(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}{PREFIX}"

    def start(self) -> None:
        for attempt in range(3):
            try:
                self._start_once()
                return
            except RuntimeError:
                log_text = self.process.log_tail()
                if "address already in use" not in log_text.lower() or attempt == 2:
                    raise
                self.ports = {}

    def _start_once(self) -> None:
        import httpx

        from funchost.sidecar import free_port

        if not self.ports:
            self.ports = {"http": free_port(), "grpc": free_port(), "app": free_port()}
        rt = self.rt
        spec = {
            "functions_path": str(rt.functions_path) if rt.functions_path else None,
            "app": rt._app if isinstance(rt._app, str) else None,
            "db_path": str(rt.db_path),
            "app_id": rt.app_id,
            "resources": [str(p) for p in rt.resources],
            "virtual": rt.clock == "virtual",
            "clock_start": self._now,
            "http_port": self.ports["http"],
            "grpc_port": self.ports["grpc"],
            "app_port": self.ports["app"],
            "ready_timeout": rt.ready_timeout,
            "log_level": rt.log_level,
        }
        if spec["functions_path"] is None and spec["app"] is None:
            raise ValueError('mode="subprocess" needs functions_path or app="module:attribute"')
        self.process.spawn(
            [sys.executable, "-m", "funchost.testing.subprocess_stack", json.dumps(spec)],
            env={**os.environ, **self.env(), "PYTHONPATH": _pythonpath()},
            cwd=os.getcwd(),
        )

        def ready() -> bool:
            doc = httpx.get(f"{self._base}/status", timeout=2.0).json()
            if doc.get("ready"):
                self._now = float(doc["now"])
            return bool(doc.get("ready"))

        try:
            self.process.wait_until(
                ready,
                "become ready",
                rt.ready_timeout,
                interval=0.05,
                errors=(httpx.HTTPError, ValueError),
            )
        except RuntimeError:
            self.process.kill()
            raise

    def stop(self) -> None:
        self.process.stop()

    def restart_after_crash(self) -> None:
        self.process.kill()
        self.start()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        async with httpx.AsyncClient(timeout=120.0) as client:
            resp = await client.request(method, f"{self._base}{path}", **kwargs)
        doc = resp.json()
        if resp.status_code == 501:
            raise NotImplementedError(doc["error"])
        if resp.status_code == 504:
            raise TimeoutError(doc["error"])
        if resp.status_code == 400:
            raise RuntimeError(doc["error"])
        resp.raise_for_status()
        return doc

    async def idle(self, timeout: float = 30.0) -> None:
        doc = await self._call("POST", "/idle", params={"timeout": str(timeout)})
        self._now = float(doc["now"])

    async def advance(self, seconds: float) -> float:
        doc = await self._call("POST", "/advance", params={"seconds": repr(seconds)})
        self._now = float(doc["now"])
        return self._now

    def now(self) -> float:
        return self._now if self._now is not None and self.rt.clock == "virtual" else time.time()

    async def dead_letters(self, topic: str) -> list[Any]:
        return list(await self._call("GET", f"/dead-letters/{topic}"))

    async def outbox(self, binding: str) -> list[Any]:
        return list(await self._call("GET", f"/outbox/{binding}"))

    async def send_binding(self, name: str, data: Any, metadata: dict[str, str]) -> Any:
        from funchost.testing.inspection import BindingReply

        body = json.dumps({"data": data, "metadata": metadata}, default=_jsonable)
        doc = await self._call("POST", f"/bindings/{name}", content=body)
        return BindingReply(int(doc["status"]), doc["data"])


if __name__ == "__main__":
    main()
