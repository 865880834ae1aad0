"""The actor call's hot path: group commit of state saves, the kept-alive state client, and the
lean callback layer (each answers exactly as the slower path it replaces)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from dapr.clients.exceptions import DaprHttpError

from funchost.sidecar.actors.state import ComponentActorState, StateOp
from funchost.sidecar.state.backend import SyncBackendAdapter
from funchost.sidecar.state.sqlite import SqliteStateBackend
from funchost.sidecar.store import Store
from funchost.wiring._actor_http import StateHttp
from funchost.wiring._actor_json import FunchostJSONSerializer


def _actor_state(tmp_path: Path) -> tuple[ComponentActorState, SqliteStateBackend]:
    store = Store(tmp_path / "s.db", exclusive=True)
    backend = SqliteStateBackend(store, "statestore", time.time).unprefixed()
    return ComponentActorState(SyncBackendAdapter(backend), "app"), backend


def _upsert(key: str, value: bytes) -> list[StateOp]:
    return [StateOp("upsert", key, value, None, True)]


async def test_concurrent_saves_share_a_commit_and_all_land(tmp_path: Path) -> None:
    state, backend = _actor_state(tmp_path)
    assert state._group is not None
    commits = 0
    tx = backend.store.tx

    def counting_tx() -> Any:
        nonlocal commits
        commits += backend.store._depth == 0
        return tx()

    backend.store.tx = counting_tx  # type: ignore[method-assign]
    await asyncio.gather(
        *(state.transact("Counter", f"c{i}", _upsert("count", str(i).encode())) for i in range(20))
    )
    assert commits == 1
    for i in range(20):
        found = await state.get("Counter", f"c{i}", "count")
        assert found is not None and found.value == str(i).encode()


async def test_a_failing_save_fails_alone(tmp_path: Path) -> None:
    state, backend = _actor_state(tmp_path)
    real = backend.transact

    def transact(ops: list[tuple[str, Any]]) -> None:
        if any(item.key.endswith("||bad") for _, item in ops):
            raise RuntimeError("disk says no")
        real(ops)

    backend.transact = transact  # type: ignore[method-assign]
    results = await asyncio.gather(
        state.transact("Counter", "a", _upsert("count", b"1")),
        state.transact("Counter", "b", _upsert("bad", b"2")),
        state.transact("Counter", "c", _upsert("count", b"3")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert (await state.get("Counter", "a", "count")) is not None
    assert (await state.get("Counter", "b", "bad")) is None
    assert (await state.get("Counter", "c", "count")) is not None


class _Sidecar:
    """A loopback HTTP server that answers each request, then closes the connection when told."""

    def __init__(self, status: bytes = b"204 No Content", body: bytes = b"") -> None:
        self.status, self.body = status, body
        self.requests: list[bytes] = []
        self.close_after = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            self.requests.append(head + await reader.readexactly(length))
            writer.write(
                b"HTTP/1.1 "
                + self.status
                + b"\r\ncontent-length: "
                + str(len(self.body)).encode()
                + b"\r\n\r\n"
                + self.body
            )
            await writer.drain()
            if self.close_after:
                writer.close()
                return


@pytest.fixture
async def sidecar() -> Any:
    fake = _Sidecar()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    yield fake
    server.close()


async def test_state_client_keeps_the_connection_and_reconnects(sidecar: Any) -> None:
    client = StateHttp("127.0.0.1", sidecar.port, FunchostJSONSerializer())
    body = b'[{"operation":"upsert","request":{"key":"k","value":1}}]'
    await client.save_state_transactionally("My Type", "id/1", body)
    await client.save_state_transactionally("My Type", "id/1", body)
    assert len(client._idle) == 1
    first = sidecar.requests[0]
    assert first.startswith(b"PUT /v1.0/actors/My%20Type/id%2F1/state HTTP/1.1\r\n")
    assert first.endswith(b"\r\n\r\n" + body)
    sidecar.close_after = True  # the sidecar drops the kept-alive connection after answering
    await client.save_state_transactionally("T", "1", body)
    await asyncio.sleep(0.05)
    await client.save_state_transactionally("T", "1", body)  # on a fresh connection
    assert len(sidecar.requests) == 4
    client.close()


async def test_state_client_raises_the_sdk_http_error(sidecar: Any) -> None:
    sidecar.status = b"500 Internal Server Error"
    sidecar.body = b'{"errorCode":"ERR_ACTOR_STATE_TRANSACTION_SAVE","message":"nope"}'
    client = StateHttp("127.0.0.1", sidecar.port, FunchostJSONSerializer())
    with pytest.raises(DaprHttpError) as err:
        await client.save_state_transactionally("T", "1", b"[]")
    assert err.value.as_dict()["errorCode"] == "ERR_ACTOR_STATE_TRANSACTION_SAVE"
    client.close()


async def test_callback_layer_answers_as_dapr_actor_routes() -> None:
    """The same requests through `ActorCalls` and through DaprActor's FastAPI routes."""
    import httpx
    from _serde_actors import EchoActor
    from dapr.actor import ActorRuntime
    from dapr.ext.fastapi import DaprActor
    from fastapi import FastAPI

    from funchost import create_app
    from funchost.wiring._actor_asgi import ActorCalls

    ours = create_app([EchoActor])
    reference = FastAPI()
    DaprActor(reference)
    ser = FunchostJSONSerializer()
    await ActorRuntime.register_actor(
        EchoActor, message_serializer=ser, state_serializer=ser, actor_client=object()
    )
    calls: list[tuple[str, str, bytes]] = [
        ("PUT", "/actors/EchoActor/e1/method/Echo", b'{"a": [1, "1h"]}'),
        ("PUT", "/actors/EchoActor/e1/method/Echo", b"not json"),
        ("PUT", "/actors/EchoActor/e1/method/Nope", b"1"),
        ("PUT", "/actors/Nobody/e1/method/Echo", b"1"),
        ("PUT", "/actors/EchoActor/e1/method/timer/t1", b'{"callback": "nope", "data": 1}'),
        ("PUT", "/actors/EchoActor/e1/method/remind/r1", b'{"data": null, "dueTime": "1s"}'),
        ("PUT", "/actors/EchoActor/e1/method/other/r1", b""),
        ("GET", "/actors/EchoActor/e1/method/Echo", b""),
        ("PUT", "/actors/EchoActor/e1/method/Echo/", b"1"),
    ]
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(ours), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(reference), base_url="http://b") as b,
        ):
            for method, path, body in calls:
                got = await a.request(method, path, content=body)
                want = await b.request(method, path, content=body)
                assert (got.status_code, got.content) == (want.status_code, want.content), path
                assert got.headers.get("content-type") == want.headers.get("content-type"), path
        layer = ours.middleware_stack
        while layer is not None and not isinstance(layer, ActorCalls):
            layer = getattr(layer, "app", None)
        assert isinstance(layer, ActorCalls) and layer.active
    finally:
        ActorRuntime._actor_managers.pop("EchoActor", None)


async def test_sidecar_fast_lane_answers_errors_as_the_router() -> None:
    """Actor API errors through `fast_lane` and through the Starlette Mount + handlers."""
    import sqlite3

    import httpx
    from starlette.applications import Starlette

    from funchost.sidecar.actors._http import actor_routes, fast_lane
    from funchost.sidecar.actors.config import ActorsConfig, TypeConfig
    from funchost.sidecar.limits import MaxBodySizeMiddleware, body_too_large_handlers
    from funchost.sidecar.store_errors import unexpected_error_handlers

    class State:
        async def transact(self, *args: Any) -> None:
            raise AssertionError("not reached")

        async def get(self, actor_type: str, actor_id: str, key: str) -> Any:
            if key == "locked":
                raise sqlite3.OperationalError("database is locked")
            raise KeyError(key)

    class Host:
        config = ActorsConfig(types={"T": TypeConfig()})
        config_error = None
        state = State()

        async def await_types(self, actor_type: str) -> None:
            return None

    handlers = {**unexpected_error_handlers(), **body_too_large_handlers()}
    routed = Starlette(routes=actor_routes(Host()), exception_handlers=handlers)  # type: ignore[arg-type]
    lane = fast_lane(Host(), Starlette(exception_handlers=handlers))  # type: ignore[arg-type]
    requests = [
        ("GET", "/v1.0/actors/T/1/state/locked", b""),
        ("GET", "/v1.0/actors/T/1/state/boom", b""),
        ("POST", "/v1.0/actors/T/1/state", b"[" * 100),
        ("GET", "/v1.0/actors/T/1/nothing", b""),
    ]
    for method, path, body in requests:
        answers = []
        for app in (routed, lane):
            transport = httpx.ASGITransport(
                MaxBodySizeMiddleware(app, 50), raise_app_exceptions=False
            )
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                answers.append(await client.request(method, path, content=body))
        got, want = answers[1], answers[0]
        assert (got.status_code, got.json()) == (want.status_code, want.json()), path
