"""The in-process app channel of `funchost run` (app_channel/inproc.py) against the HTTP one:
the app sees the same scope, headers and body; the sidecar gets the same answer; drain and
shutdown behave as over the socket."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from funchost.commands.run import in_process_channel
from funchost.shutdown import Drain, DrainingServer, DrainMiddleware
from funchost.sidecar.app_channel import AppUnavailable, HttpAppChannel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers what it saw; /status/<n> answers n; /boom raises; /slow sleeps; /len sets a
    content-length; /stream sends two chunks."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/slow":
        await asyncio.sleep(0.5)
    seen = {
        k: v
        for k, v in scope.items()
        if k not in ("app", "state", "extensions", "headers", "client")
    }
    seen["headers"] = [[a.decode(), b.decode()] for a, b in scope["headers"]]
    seen["body"] = body.decode()
    seen = {k: v.decode() if isinstance(v, bytes) else v for k, v in seen.items()}
    out = json.dumps(seen).encode()
    status = int(path.rsplit("/", 1)[1]) if path.startswith("/status/") else 200
    headers = [(b"content-type", b"application/json"), (b"X-Custom", b"v")]
    if path == "/len":
        headers.append((b"content-length", str(len(out)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if path == "/stream":
        await send({"type": "http.response.body", "body": out[:5], "more_body": True})
        out = out[5:]
    await send({"type": "http.response.body", "body": out})


class Served:
    def __init__(self, server: DrainingServer, channel: HttpAppChannel, drain: Drain) -> None:
        self.server = server
        self.channel = channel
        self.drain = drain
        self.loop = asyncio.new_event_loop()  # the sidecar's loop (this thread)

    def call(self, method: str, path: str, body: bytes, headers: dict[str, str], inproc: bool):
        bridge = self.channel.bridge
        if not inproc:
            self.channel.bridge = None
        try:
            return self.loop.run_until_complete(
                self.channel.fast_request(method, path, body, headers, timeout=5.0)
            )
        finally:
            self.channel.bridge = bridge


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.delenv("FUNCHOST_APP_CHANNEL", raising=False)
    port = _free_port()
    channel = HttpAppChannel(port, app_api_token="tok-1")
    hooks = in_process_channel(channel)
    assert hooks is not None
    drain = Drain(grace=5.0)
    config = uvicorn.Config(
        DrainMiddleware(echo_app, drain), host="127.0.0.1", port=port, log_level="warning"
    )
    server = DrainingServer(config, drain=drain, on_serving=hooks[0], on_stopping=hooks[1])
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while channel.bridge is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert channel.bridge is not None
    s = Served(server, channel, drain)
    yield s
    server.should_exit = True
    thread.join(10)
    s.loop.run_until_complete(channel.close())
    s.loop.close()


def _comparable(resp: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in resp.headers.items() if k != "date"}
    return resp.status, headers, json.loads(resp.body) if resp.body.startswith(b"{") else resp.body


@pytest.mark.parametrize(
    "path", ["/a/b", "/a/b%20c?x=1&y=%20", "/status/404", "/status/500", "/len", "/stream"]
)
def test_same_scope_headers_body_and_answer(served: Served, path: str) -> None:
    headers = {"Content-Type": "application/cloudevents+json", "traceparent": "00-ab-cd-01"}
    body = b'{"data": "x"}'
    over_http = served.call("POST", path, body, headers, inproc=False)
    in_proc = served.call("POST", path, body, headers, inproc=True)
    assert _comparable(in_proc) == _comparable(over_http)
    assert "date" in in_proc.headers and in_proc.headers["server"] == "uvicorn"
    seen = json.loads(in_proc.body)
    assert ["dapr-api-token", "tok-1"] in seen["headers"]
    assert ["content-length", str(len(body))] in seen["headers"]


def test_app_error_answers_like_uvicorn(served: Served) -> None:
    over_http = served.call("PUT", "/boom", b"", {}, inproc=False)
    in_proc = served.call("PUT", "/boom", b"", {}, inproc=True)
    assert _comparable(in_proc) == _comparable(over_http)
    assert in_proc.status == 500 and in_proc.body == b"Internal Server Error"


def test_timeout_is_app_unavailable(served: Served) -> None:
    async def call() -> None:
        await served.channel.fast_request("POST", "/slow", b"", {}, timeout=0.05)

    with pytest.raises(AppUnavailable, match="timed out"):
        served.loop.run_until_complete(call())


def test_drain_waits_for_an_in_process_request(served: Served) -> None:
    async def slow() -> Any:
        return await served.channel.fast_request("POST", "/slow", b"", {}, timeout=5.0)

    task = served.loop.create_task(slow())
    served.loop.run_until_complete(asyncio.sleep(0.2))
    assert served.drain.in_flight == 1  # counted by the app's drain middleware
    started = time.monotonic()
    assert served.drain.wait_sync(5.0)
    assert time.monotonic() - started > 0.1
    assert served.loop.run_until_complete(task).status == 200


def test_after_the_app_stopped_a_request_is_refused(served: Served) -> None:
    served.server.should_exit = True
    deadline = time.monotonic() + 5
    while not served.channel.bridge.closed and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.01)
    with pytest.raises(AppUnavailable, match="unreachable"):
        served.call("POST", "/a", b"", {}, inproc=True)


def test_setting_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCHOST_APP_CHANNEL", "http")
    assert in_process_channel(HttpAppChannel(1)) is None


def test_actor_state_calls_reach_the_sidecar_in_process_with_the_same_scope() -> None:
    """The reverse direction: `StateHttp` (the app's actor state) calling the sidecar's API."""
    from funchost.sidecar.app_channel.inproc import SidecarApiBridge
    from funchost.wiring._actor_http import StateHttp, use_in_process_sidecar

    port = _free_port()
    config = uvicorn.Config(echo_app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    holder: dict[str, asyncio.AbstractEventLoop] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    client = StateHttp("127.0.0.1", port, serializer=None)

    async def read(inproc: bool) -> Any:
        use_in_process_sidecar(server if inproc else None, holder["loop"], port, SidecarApiBridge)
        try:
            return json.loads(await client.get_state("T y", "id/1", "k"))
        finally:
            use_in_process_sidecar(None)

    loop = asyncio.new_event_loop()
    try:
        over_http = loop.run_until_complete(read(False))
        in_proc = loop.run_until_complete(read(True))
        assert client._bridge is not None  # the second read went in-process
        assert in_proc == over_http
        assert over_http["path"] == "/v1.0/actors/T y/id/1/state/k"
    finally:
        client.close()
        server.should_exit = True
        thread.join(10)
        loop.close()


def test_the_app_never_runs_in_the_callers_context(served: Served) -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var", default="unset")
    seen: list[str] = []
    bridge = served.channel.bridge
    assert bridge is not None
    inner = bridge.app

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(var.get())
        await inner(scope, receive, send)

    bridge.app = app
    var.set("sidecar span")
    try:
        served.call("POST", "/a", b"", {}, inproc=True)
    finally:
        bridge.app = inner
    assert seen == ["unset"]
