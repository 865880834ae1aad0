"""Fixtures for the task agent's end-to-end tests: the real `functions/` folder on the embedded
sidecar (virtual clock), with the repository's components and a notifications binding that
either writes files into the test's temporary folder or fails deterministically."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from funchost.testing import LocalRuntime

from ._support import FUNCTIONS, NotificationServer, http_binding, localstorage, write_resources


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "notifications"


@pytest.fixture
async def agent(tmp_path: Path, outbox_dir: Path) -> AsyncIterator[LocalRuntime]:
    """The task agent, notifications written as files into `outbox_dir`."""
    resources = write_resources(tmp_path / "resources", localstorage(outbox_dir))
    async with LocalRuntime(
        FUNCTIONS, resources=[resources], db_path=tmp_path / "funchost.db"
    ) as runtime:
        yield runtime


@pytest.fixture
def refusing_server() -> Iterator[NotificationServer]:
    """A notification endpoint that answers 503 to everything."""
    server = NotificationServer(status=503)
    yield server
    server.close()


@pytest.fixture
async def failing_agent(
    tmp_path: Path, refusing_server: NotificationServer
) -> AsyncIterator[LocalRuntime]:
    """The task agent whose notifications binding always fails (HTTP 503)."""
    resources = write_resources(tmp_path / "resources", http_binding(refusing_server.url))
    async with LocalRuntime(
        FUNCTIONS, resources=[resources], db_path=tmp_path / "funchost.db"
    ) as runtime:
        yield runtime
