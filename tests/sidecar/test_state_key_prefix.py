"""One `keyPrefix` helper for every state store, and the unprefixed view actor state and the
outbox markers use: keys already carrying daprd's layout are never prefixed twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from funchost.sidecar.component import Component
from funchost.sidecar.state import postgresql
from funchost.sidecar.state.backend import StateItem, SyncBackendAdapter, key_prefix
from funchost.sidecar.state.sqlite import SqliteStateBackend
from funchost.sidecar.store import Store


@pytest.mark.parametrize("mode", [None, "appid", "name", "none", "namespace", "Shared"])
def test_postgresql_uses_the_shared_helper(mode: str | None, monkeypatch) -> None:
    monkeypatch.setenv("NAMESPACE", "prod")
    comp = Component("pg", "state.postgresql", metadata={"keyPrefix": mode} if mode else {})
    assert postgresql.key_prefix(comp, "app") == key_prefix(mode, "app", "pg")


def test_unprefixed_view_and_raw_keys(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "shared.db"))
    backend = SqliteStateBackend(store, "s", time.time, prefix="app")
    sapi = SyncBackendAdapter(backend)
    bare = sapi.unprefixed()

    async def scenario() -> None:
        await sapi.set_many([StateItem("k", b"v")])
        assert (await bare.get("app||k")) is not None  # stored as daprd does
        assert (await bare.get("k")) is None
        actor_key = "app||Counter||1||n"
        await bare.transact([("upsert", StateItem(actor_key, b"1"))])
        assert (await bare.get(actor_key)) is not None  # not app||app||...
        await sapi.transact([("upsert", StateItem("marker", b"0", raw_key=True))])
        assert (await bare.get("marker")) is not None
        await sapi.transact([("delete", StateItem("marker", raw_key=True))])
        assert (await bare.get("marker")) is None

    asyncio.run(scenario())
