"""Fixtures: an embedded sidecar (virtual clock) + a DaprActor app, driven with ActorProxy."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dapr.actor import ActorId, ActorProxy, ActorProxyFactory
from dapr.actor.runtime.runtime import ActorRuntime

from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, VirtualClock, free_port

sys.path.insert(0, str(Path(__file__).parent))

import _actors_app


class Harness:
    """One app; sidecars started (and restarted) against it with a virtual clock."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.db = tmp_path / "sidecar.db"
        self.app_port = free_port()
        self.app: _actors_app.AppServer | None = None
        self.thread: SidecarThread | None = None
        self.sidecar: Sidecar | None = None
        self.clock: VirtualClock | None = None
        self.rec = _actors_app.REC

    def start_sidecar(self, start: float | None = None, resources: Path | None = None) -> Sidecar:
        port = free_port()
        self.monkeypatch.setenv("DAPR_HTTP_PORT", str(port))
        self.monkeypatch.setenv("DAPR_GRPC_PORT", str(free_port()))
        self.clock = VirtualClock(start)
        config = SidecarConfig(
            app_id="actors-test",
            app_port=self.app_port,
            http_port=port,
            grpc_port=0,
            db_path=self.db,
            resources_paths=[resources] if resources is not None else [],
        )
        self.sidecar = Sidecar(config, clock=self.clock)
        self.thread = SidecarThread(self.sidecar)
        self.thread.start()
        return self.sidecar

    def start_app(self, **config: Any) -> None:
        self.app = _actors_app.AppServer(_actors_app.build_app(**config), self.app_port)
        self.app.start()

    def ready(self) -> None:
        assert self.thread is not None and self.sidecar is not None
        self.thread.call(self.sidecar.wait_app_ready(30))
        self.idle()

    def idle(self) -> None:
        assert self.thread is not None and self.sidecar is not None
        self.thread.call(self.sidecar.idle())

    def advance(self, seconds: float) -> None:
        assert self.thread is not None and self.clock is not None
        self.thread.call(self.clock.advance(seconds))

    def stop_sidecar(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None

    @property
    def actors(self) -> Any:
        assert self.sidecar is not None
        return self.sidecar.get("actors")

    def proxy(self, actor_id: str, actor_type: str = "CounterActor") -> Any:
        return ActorProxy.create(
            actor_type,
            ActorId(actor_id),
            _actors_app.CounterInterface,
            actor_proxy_factory=ActorProxyFactory(),
        )

    def close(self) -> None:
        self.stop_sidecar()
        if self.app is not None:
            self.app.stop()


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """Sidecar first (the SDK waits for it), then the app; reset the shared recorder."""
    _actors_app.REC.__init__()  # type: ignore[misc]
    # The SDK's ActorRuntime is process-global: give it back as we found it.
    saved = {
        name: getattr(ActorRuntime, name)
        for name in ("_actor_config", "_actor_managers", "_actor_managers_lock")
    }
    h = Harness(tmp_path, monkeypatch)
    try:
        yield h
    finally:
        h.close()
        for name, value in saved.items():
            setattr(ActorRuntime, name, value)


@pytest.fixture
def make_env(harness: Harness) -> Any:
    """Start sidecar + app with the given actor runtime config and wait until actors are hosted."""

    def start(**config: Any) -> Harness:
        harness.start_sidecar()
        harness.start_app(**config)
        harness.ready()
        return harness

    return start
