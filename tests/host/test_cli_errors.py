"""CLI: the errors a user meets first are one line naming what and where, with exit 1."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from funchost.cli import app
from funchost.sidecar import free_port

runner = CliRunner()

TOPIC = (
    'from funchost import topic\n\n\n@topic("pubsub", "orders")\n'
    "async def on_order(d: dict):\n    pass\n"
)


def _run(folder: Path, *, app_port: int, http_port: int, grpc_port: int) -> tuple[int, str]:
    args = ["run", str(folder), "--no-plugins", "--state-dir", str(folder / ".fh")]
    args += ["--port", str(app_port), "--dapr-http-port", str(http_port)]
    args += ["--dapr-grpc-port", str(grpc_port)]
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "fh_err_orders.py").write_text(TOPIC)
    return tmp_path


def test_app_port_in_use(folder: Path, taken_port: int) -> None:
    code, text = _run(folder, app_port=taken_port, http_port=free_port(), grpc_port=free_port())
    assert code == 1
    assert f"app port {taken_port} on 127.0.0.1 is not available" in text and "--port" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("api", ["HTTP", "gRPC"])
def test_sidecar_port_in_use(folder: Path, taken_port: int, api: str) -> None:
    http = taken_port if api == "HTTP" else free_port()
    grpc = taken_port if api == "gRPC" else free_port()
    code, text = _run(folder, app_port=free_port(), http_port=http, grpc_port=grpc)
    assert code == 1
    assert f"sidecar {api} port {taken_port} on 127.0.0.1 is already in use" in text
    assert "Traceback" not in text


def test_malformed_component_yaml_is_one_line(folder: Path) -> None:
    (folder / "components").mkdir()
    (folder / "components" / "bad.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\n"
        "spec:\n  type: pubsub.in-memory\n  metadata: [ {name: x\n"
    )
    code, text = _run(folder, app_port=free_port(), http_port=free_port(), grpc_port=free_port())
    assert code == 1
    assert "bad.yaml:8:1: not valid YAML: expected ',' or '}'" in text


def test_topic_on_a_missing_pubsub_component(tmp_path: Path) -> None:
    (tmp_path / "fh_err_kafka.py").write_text(
        'from funchost import topic\n\n\n@topic("kafka-pubsub", "orders")\n'
        "async def on_kafka(d: dict):\n    pass\n"
    )
    code, text = _run(tmp_path, app_port=free_port(), http_port=free_port(), grpc_port=free_port())
    assert code == 1
    assert "fh_err_kafka.py:4: @topic 'on_kafka'" in text
    assert "pub/sub 'kafka-pubsub', but no pubsub component" in text


def test_missing_folder_and_syntax_error(tmp_path: Path) -> None:
    code, text = _run(tmp_path / "nope", app_port=1, http_port=1, grpc_port=1)
    assert code == 1 and "does not exist" in text and "nope" in text
    (tmp_path / "fh_err_syntax.py").write_text("def broken(:\n    pass\n")
    code, text = _run(tmp_path, app_port=1, http_port=1, grpc_port=1)
    assert code == 1 and "fh_err_syntax.py:1" in text and "SyntaxError" in text


def test_commands_for_a_running_app_when_none_runs() -> None:
    port = free_port()  # nothing listens there
    sidecar = f"http://127.0.0.1:{port}"
    for args in (
        ["outbox", "--sidecar", sidecar],
        ["send", "binding", "q", "{}", "--sidecar", sidecar],
    ):
        result = runner.invoke(app, args, env={"COLUMNS": "300"})
        text = " ".join(result.output.split())
        assert result.exit_code == 1, text
        assert f"no sidecar answers at {sidecar}" in text and "Traceback" not in text
    result = runner.invoke(app, ["workflow", "list", "--address", f"127.0.0.1:{port}"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert f"workflow list via 127.0.0.1:{port}" in text and "--address" in text


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """`funchost run` exports the sidecar's env (APP_ID, DAPR_*_PORT) into this process."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.usefixtures("restored_environ")
def test_per_replica_cron_without_its_component_warns(tmp_path: Path, monkeypatch) -> None:
    from funchost.shutdown import DrainingServer

    monkeypatch.setattr(DrainingServer, "run", lambda self, sockets=None: None)  # serve nothing
    (tmp_path / "fh_err_cron.py").write_text(
        'from funchost import cron\n\n\n@cron("@daily", per_replica=True)\nasync def nightly():\n'
        "    pass\n"
    )
    code, text = _run(tmp_path, app_port=free_port(), http_port=free_port(), grpc_port=free_port())
    assert code == 0, text
    assert "fh_err_cron.py:4: @cron 'nightly' (per_replica) never fires" in text
    assert "schedule '@daily'" in text
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "nightly.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: nightly\nspec:\n"
        "  type: bindings.cron\n  version: v1\n  metadata:\n    - name: schedule\n"
        "      value: '@daily'\n"
    )
    code, text = _run(tmp_path, app_port=free_port(), http_port=free_port(), grpc_port=free_port())
    assert code == 0 and "never fires" not in text, text
