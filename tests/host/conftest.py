"""Fixtures: the all_kinds sample app driven over ASGI, as daprd would drive it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from funchost import Settings, create_app, discover

SAMPLES = Path(__file__).resolve().parents[1] / "functions"


@pytest.fixture
def registry() -> Any:
    return discover(SAMPLES / "all_kinds", plugins=False)


@pytest.fixture
def seen(registry: Any) -> list[Any]:
    module = sys.modules["orders"]
    module.SEEN.clear()
    return module.SEEN


def make_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


@pytest.fixture
async def client(registry: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(registry, Settings(workflows=False, schedule_jobs=False))
    async with make_client(app) as c:
        yield c
