"""Fixtures shared by the observability tests: JSON log capture, an embedded sidecar with the
metrics subsystem."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from funchost.observability import configure_logging
from funchost.sidecar import free_port
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Structured (JSON) log lines of the test, one per line."""
    stream = io.StringIO()
    handler = configure_logging("json", level="INFO", stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture
def start_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., SidecarThread]]:
    """Factory: `start_sidecar(**config)` starts an embedded sidecar (no app) serving `/metrics`
    and points the SDK's environment at it; stopped at the end of the test."""
    started: list[SidecarThread] = []

    def start(**overrides: Any) -> SidecarThread:
        config = SidecarConfig(
            **{
                "app_id": "metrics-test",
                "http_port": free_port(),
                "grpc_port": 0,
                "db_path": tmp_path / "sidecar.db",
                "resources_paths": [],
                **overrides,
            }
        )
        thread = SidecarThread(Sidecar(config))
        thread.start()
        started.append(thread)
        for key, value in thread.sidecar.env().items():
            monkeypatch.setenv(key, value)
        return thread

    try:
        yield start
    finally:
        for thread in started:
            thread.stop()
