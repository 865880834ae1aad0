"""LocalRuntime used directly (no pytest fixture), with small hand-written FastAPI apps."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from funchost.testing import LocalRuntime

pytestmark = pytest.mark.e2e


def health_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def test_environment_is_exported_then_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAPR_HTTP_PORT", "1234")
    monkeypatch.delenv("DAPR_GRPC_PORT", raising=False)
    async with LocalRuntime(app=health_app(), db_path=tmp_path / "db.sqlite") as rt:
        assert os.environ["DAPR_HTTP_PORT"] == rt.env["DAPR_HTTP_PORT"] != "1234"
        assert os.environ["DAPR_GRPC_PORT"] == rt.grpc_address.rpartition(":")[2]
        assert (tmp_path / "db.sqlite").exists()
    assert os.environ["DAPR_HTTP_PORT"] == "1234"
    assert "DAPR_GRPC_PORT" not in os.environ


async def test_virtual_clock_moves_only_when_advanced(tmp_path: Path) -> None:
    async with LocalRuntime(app=health_app(), db_path=tmp_path / "db.sqlite") as rt:
        start = rt.now()
        await rt.idle()
        assert rt.now() == start
        assert await rt.advance(timedelta(days=3)) == start + timedelta(days=3)
        await rt.crash_and_restart()
        assert rt.now() == start + timedelta(days=3)  # virtual time survives the crash


async def test_advance_needs_the_virtual_clock(tmp_path: Path) -> None:
    async with LocalRuntime(app=health_app(), clock="real", db_path=tmp_path / "db") as rt:
        with pytest.raises(RuntimeError, match="clock='real'"):
            await rt.advance(timedelta(seconds=1))


async def test_app_start_failure_is_reported_with_its_cause(tmp_path: Path) -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("the database URL is missing")
        yield

    with pytest.raises(Exception, match="the database URL is missing"):
        async with LocalRuntime(app=FastAPI(lifespan=lifespan), db_path=tmp_path / "db"):
            pass


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LocalRuntime(tmp_path / "missing")
    with pytest.raises(ValueError, match="exactly one"):
        LocalRuntime()
    with pytest.raises(ValueError, match="clock"):
        LocalRuntime(app=health_app(), clock="fast")  # type: ignore[arg-type]


def stuck_subscriber(deliveries: list[str]) -> FastAPI:
    """Subscribes to `jobs`; the first delivery never returns, later ones succeed."""
    app = health_app()

    @app.get("/dapr/subscribe")
    def subscribe() -> list[dict[str, str]]:
        return [{"pubsubname": "pubsub", "topic": "jobs", "route": "/jobs"}]

    @app.post("/jobs")
    async def jobs(request: Request) -> None:
        event = await request.json()
        deliveries.append(event["data"]["n"])
        if len(deliveries) == 1:
            await asyncio.Event().wait()  # stuck until the crash cuts the connection

    return app


async def test_an_unacknowledged_delivery_is_redelivered_after_a_crash(tmp_path: Path) -> None:
    deliveries: list[str] = []
    async with LocalRuntime(app=stuck_subscriber(deliveries), db_path=tmp_path / "db") as rt:
        await rt.publish("pubsub", "jobs", {"n": "first"})
        with pytest.raises(TimeoutError):
            await rt.idle(timeout=1)  # the handler never answers
        assert deliveries == ["first"]
        await rt.crash_and_restart()
        await rt.idle()
        assert deliveries == ["first", "first"]
