"""Request body limits: the sidecar refuses what daprd refuses (4Mi by default, --max-body-size;
no 413: the handler's read error), the app answers 413 past FUNCHOST_MAX_BODY_SIZE."""

from __future__ import annotations

import httpx
import pytest
from dapr.clients.exceptions import DaprGrpcError

from funchost import Settings, binding, create_app
from funchost.sidecar.limits import parse_size
from tests.host.conftest import make_client
from tests.sidecar._procs import dapr_client, spawn_sidecar, stop

MIB = 1 << 20


def test_quantities() -> None:
    assert parse_size("4Mi") == 4 * MIB and parse_size("16M") == 16_000_000
    assert parse_size("1048576") == MIB
    with pytest.raises(ValueError, match="4Mi"):
        parse_size("lots")


@pytest.mark.slow
def test_the_sidecar_refuses_bodies_over_4mi_as_daprd(tmp_path) -> None:
    proc, http, grpc_port = spawn_sidecar(tmp_path / "app.db")
    base = f"http://127.0.0.1:{http}/v1.0"
    big = "x" * (5 * MIB)
    try:
        save = httpx.post(f"{base}/state/statestore", json=[{"key": "k", "value": big}], timeout=30)
        assert save.status_code == 400, save.text
        assert save.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
        assert "stream too large" in save.json()["message"]
        assert "--max-body-size" in save.json()["message"]
        pub = httpx.post(f"{base}/publish/pubsub/t", content=big.encode(), timeout=30)
        assert pub.status_code == 500 and pub.json()["errorCode"] == "ERR_PUBSUB_PUBLISH_MESSAGE"
        with dapr_client(http, grpc_port) as client:
            with pytest.raises(DaprGrpcError) as err:
                client.save_state("statestore", "k", big)
            assert err.value.code().name == "RESOURCE_EXHAUSTED"
            client.save_state("statestore", "k", "x" * (3 * MIB))  # under the limit: accepted
            assert len(client.get_state("statestore", "k").data) == 3 * MIB
    finally:
        code, err_text = stop(proc)
    assert code == 0, err_text


@pytest.mark.slow
def test_max_body_size_raises_the_limit(tmp_path, monkeypatch) -> None:
    import subprocess
    import sys

    from funchost.sidecar import free_port

    http, grpc_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "funchost.sidecar.runner", "--http-port", str(http)]
    cmd += ["--grpc-port", str(grpc_port), "--db", str(tmp_path / "a.db"), "--max-body-size", "8Mi"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline()
        with dapr_client(http, grpc_port) as client:
            client.save_state("statestore", "k", "y" * (5 * MIB))
        got = httpx.get(f"http://127.0.0.1:{http}/v1.0/state/statestore/k", timeout=30)
        assert len(got.content) == 5 * MIB  # (the SDK's own client caps replies at 4 MiB)
    finally:
        code, err_text = stop(proc)
    assert code == 0, err_text


@binding("upload")
def upload(data: dict) -> dict:
    return {"size": len(str(data))}


async def test_the_app_answers_413_past_funchost_max_body_size(monkeypatch) -> None:
    monkeypatch.setenv("FUNCHOST_MAX_BODY_SIZE", "1Mi")
    app = create_app([upload], Settings(workflows=False, schedule_jobs=False))
    async with make_client(app) as client:
        ok = await client.post("/upload", json={"a": "x" * 1000})
        assert ok.status_code == 200, ok.text
        resp = await client.post("/upload", json={"a": "x" * (2 * MIB)})
        assert resp.status_code == 413
        body = resp.json()
        assert body["errorCode"] == "ERR_BODY_TOO_LARGE"
        assert "FUNCHOST_MAX_BODY_SIZE=1Mi" in body["message"]

        async def chunks():
            for _ in range(3):
                yield b"x" * MIB

        chunked = await client.post("/upload", content=chunks())
        assert chunked.status_code == 413, chunked.text


async def test_an_invalid_setting_says_how_to_fix_it(monkeypatch) -> None:
    from funchost.errors import ConfigError

    monkeypatch.setenv("FUNCHOST_MAX_BODY_SIZE", "big")
    with pytest.raises(ConfigError, match="FUNCHOST_MAX_BODY_SIZE"):
        create_app([upload], Settings(workflows=False, schedule_jobs=False))
