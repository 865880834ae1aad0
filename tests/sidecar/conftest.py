"""Fixtures: a real embedded sidecar (own thread, virtual clock) next to a small Starlette app."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, VirtualClock, free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    query: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingApp:
    """A plain Starlette app: records every request; answers per path from `handlers`."""

    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    handlers: dict[str, Callable[[Received], Response]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path and r.method != "OPTIONS"]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"{path}: got {len(self.at(path))} requests, wanted {count}")

    def asgi(self) -> Starlette:
        async def subscribe(request: Request) -> Response:
            return JSONResponse(self.subscriptions)

        async def healthz(request: Request) -> Response:
            return Response(status_code=200)

        async def anything(request: Request) -> Response:
            rec = Received(
                request.method,
                request.url.path,
                {k.lower(): v for k, v in request.headers.items()},
                request.url.query,
                await request.body(),
            )
            self.received.append(rec)
            handler = self.handlers.get(request.url.path)
            if handler is not None:
                return handler(rec)
            if request.method == "OPTIONS":
                return Response(status_code=200)
            return JSONResponse({"status": "SUCCESS"})

        return Starlette(
            routes=[
                Route("/dapr/subscribe", subscribe, methods=["GET"]),
                Route("/healthz", healthz, methods=["GET"]),
                Route(
                    "/{path:path}",
                    anything,
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
                ),
            ]
        )


class AppServer:
    """Runs an ASGI app on uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("app server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@dataclass
class Harness:
    """A running sidecar (thread) + recording app, and helpers to drive them."""

    sidecar: Sidecar
    thread: SidecarThread
    app: RecordingApp
    clock: VirtualClock

    @property
    def grpc_address(self) -> str:
        return self.sidecar.grpc_address

    @property
    def http_url(self) -> str:
        return self.sidecar.http_url

    def idle(self) -> None:
        self.thread.call(self.sidecar.idle())

    def advance(self, seconds: float) -> None:
        self.thread.call(self.clock.advance(seconds))

    def sub(self, name: str) -> Any:
        return self.sidecar.get(name)


@pytest.fixture
def recording_app() -> Iterator[RecordingApp]:
    app = RecordingApp()
    server = AppServer(app.asgi()).start()
    app.port = server.port
    yield app
    server.stop()


@pytest.fixture
def make_sidecar(
    tmp_path: Path, recording_app: RecordingApp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Harness]]:
    """Factory: `make_sidecar(resources={"file.yaml": text}, app=True, **config)`."""
    started: list[SidecarThread] = []

    def factory(
        resources: dict[str, str] | None = None, app: bool = True, **overrides: Any
    ) -> Harness:
        res_dir = tmp_path / "resources"
        res_dir.mkdir(exist_ok=True)
        for name, text in (resources or {}).items():
            (res_dir / name).write_text(text)
        cfg = SidecarConfig(
            app_id="testapp",
            app_port=recording_app.port if app else None,
            http_port=free_port(),
            grpc_port=free_port(),
            resources_paths=[res_dir],
            db_path=tmp_path / "sidecar.db",
            app_ready_timeout=10.0,
            **overrides,
        )
        # start one second past a whole minute, so cron counts over a window are exact
        clock = VirtualClock(start=(time.time() // 60) * 60 + 1)
        sidecar = Sidecar(cfg, clock)
        thread = SidecarThread(sidecar)
        thread.start()
        started.append(thread)
        monkeypatch.setenv("DAPR_HTTP_PORT", str(cfg.http_port))
        monkeypatch.setenv("DAPR_GRPC_PORT", str(cfg.grpc_port))
        if cfg.api_token:
            monkeypatch.setenv("DAPR_API_TOKEN", cfg.api_token)
        if app:
            thread.call(sidecar.wait_app_ready(timeout=15))
        return Harness(sidecar, thread, recording_app, clock)

    yield factory
    for thread in started:
        thread.stop()


def run(coro: Any) -> Any:
    """Run a coroutine on a fresh loop (async SDK client tests)."""
    return asyncio.run(coro)
