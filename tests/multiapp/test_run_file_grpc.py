"""`funchost run -f` with `appProtocol: grpc`: a `dapr.ext.grpc.App` command app behind its own
sidecar (`--app-protocol grpc`), invoked by app id from the other apps' sidecars."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc.client import DaprGrpcClient

from funchost.runfile import load_run_file
from funchost.sidecar import resolution

from .test_run_file import _Launcher, _port, _write

# the SDK deprecates gRPC invoke_method, yet it is how a gRPC caller reaches InvokeService
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GRPC_APP = """
import json
import os

from dapr.ext.grpc import App, InvokeMethodRequest, InvokeMethodResponse

app = App()


@app.method(name="echo")
def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
    meta = {k: v[0] for k, v in request.metadata.items()}
    body = {
        "app": os.environ["APP_ID"],
        "data": request.text(),
        "caller": meta.get("dapr-caller-app-id", ""),
    }
    return InvokeMethodResponse(json.dumps(body).encode(), "application/json")


@app.method(name="fail")
def fail(request: InvokeMethodRequest) -> InvokeMethodResponse:
    raise ValueError("the gRPC app refused")


print("grpc app", os.environ["APP_ID"], "on", os.environ["APP_PORT"], flush=True)
app.run(int(os.environ["APP_PORT"]))
"""

CALLER = """
from funchost import invoke


@invoke("ping")
async def ping() -> dict[str, str]:
    return {"pong": "caller"}
"""


def _template(tmp_path: Path, protocol: str = "grpc") -> Path:
    _write(tmp_path / "grpcapp" / "app.py", GRPC_APP)
    _write(tmp_path / "caller" / "ping.py", CALLER)
    return _write(
        tmp_path / "dapr.yaml",
        f"""
        version: 1
        apps:
          - appDirPath: ./grpcapp
            appID: grpc-echo
            appPort: {_port()}
            appProtocol: {protocol}
            command: ["{sys.executable}", "app.py"]
          - appDirPath: ./caller
            appID: caller
        """,
    )


def test_app_protocol_grpc_is_the_command_apps_channel(tmp_path: Path) -> None:
    spec = {a.app_id: a for a in load_run_file(_template(tmp_path, "grpcs")).apps}
    assert spec["grpc-echo"].app_channel == "grpc"
    assert spec["caller"].app_channel == "http"
    warnings = load_run_file(_template(tmp_path, "grpcs")).warnings
    assert any("without TLS; 'grpcs' is called as 'grpc'" in w for w in warnings)
    assert not load_run_file(_template(tmp_path)).warnings  # grpc is served, no warning


def test_grpc_command_app_is_reachable_by_invocation_from_another_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "registry"
    launcher = _Launcher(_template(tmp_path), registry)
    try:
        launcher.wait_for("2 apps running")
        apps = {a.app_id: a for a in resolution.list_apps(registry)}
        assert apps["grpc-echo"].app_protocol == "grpc"
        caller = apps["caller"]
        # HTTP caller -> caller's sidecar -> grpc-echo's sidecar -> OnInvoke
        r = httpx.post(
            f"{caller.http_url}/v1.0/invoke/grpc-echo/method/echo", content=b"hi", timeout=30
        )
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["app"] == "grpc-echo" and got["data"] == "hi" and got["caller"] == "caller"
        # the SDK's clients on the caller's sidecar (HTTP invocation, then gRPC InvokeService)
        monkeypatch.setenv("DAPR_HTTP_PORT", str(caller.http_port))
        monkeypatch.setenv("DAPR_GRPC_PORT", str(caller.grpc_port))
        with DaprClient(caller.grpc_address) as client:
            resp = client.invoke_method("grpc-echo", "echo", data=b"over http", http_verb="PUT")
            assert json.loads(resp.data)["data"] == "over http"
        grpc_client = DaprGrpcClient(caller.grpc_address)
        try:
            resp = grpc_client.invoke_method("grpc-echo", "echo", data=b"over grpc")
            got = json.loads(resp.data)
            assert got["data"] == "over grpc" and got["caller"] == "caller"
            with pytest.raises(grpc.RpcError) as err:
                grpc_client.invoke_method("grpc-echo", "fail", data=b"")
            # the gRPC app's own status crosses both sidecars to a gRPC caller
            assert err.value.code() == grpc.StatusCode.UNKNOWN
            assert "the gRPC app refused" in (err.value.details() or "")
            with pytest.raises(grpc.RpcError) as err:
                grpc_client.invoke_method("grpc-echo", "nope", data=b"")
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "nope method not implemented" in (err.value.details() or "")
        finally:
            grpc_client.close()
        # the app's own failure reaches an HTTP caller as daprd's reading of its gRPC status
        r = httpx.post(f"{caller.http_url}/v1.0/invoke/grpc-echo/method/fail", timeout=30)
        assert r.status_code >= 400
        assert not any("appProtocol" in line for line in launcher.lines)  # no HTTP-only warning
    finally:
        launcher.proc.send_signal(signal.SIGTERM)
        assert launcher.proc.wait(90) == 0, "\n".join(launcher.lines)
