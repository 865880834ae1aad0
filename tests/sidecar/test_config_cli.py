"""`funchost config set/get/list` against a running sidecar (HTTP) and a database file."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from dapr.clients import DaprClient
from typer.testing import CliRunner

from funchost.cli import app

pytestmark = pytest.mark.e2e


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_set_on_a_running_sidecar_notifies_subscribers(make_sidecar) -> None:
    h = make_sidecar(app=False)
    got: list[dict[str, tuple[str, str]]] = []
    seen = threading.Event()

    def on_change(sub_id: str, resp: Any) -> None:
        got.append({k: (v.value, v.version) for k, v in resp.items.items()})
        seen.set()

    with DaprClient(address=h.grpc_address) as c:
        sub_id = c.subscribe_configuration("configstore", ["feature-x"], on_change)
        written = _run(
            "config", "set", "configstore", "feature-x=on", "-m", "owner=ops",
            "--sidecar", h.http_url,
        )  # fmt: skip
        assert written == {
            "feature-x": {"value": "on", "version": "1", "metadata": {"owner": "ops"}}
        }
        assert seen.wait(10)
        assert got == [{"feature-x": ("on", "1")}]
        item = c.get_configuration("configstore", ["feature-x"]).items["feature-x"]
        assert (item.value, item.version, item.metadata) == ("on", "1", {"owner": "ops"})
        c.unsubscribe_configuration("configstore", sub_id)
    _run("config", "set", "configstore", "retries=3", "--sidecar", h.http_url)
    listed = _run("config", "list", "configstore", "--sidecar", h.http_url)
    assert listed["retries"] == {"value": "3", "version": "1"}
    assert set(listed) == {"feature-x", "retries"}
    assert _run("config", "get", "configstore", "retries", "nope", "--sidecar", h.http_url) == {
        "retries": {"value": "3", "version": "1"}
    }
    _run("config", "set", "configstore", "retries", "--delete", "--sidecar", h.http_url)
    assert set(_run("config", "list", "configstore", "--sidecar", h.http_url)) == {"feature-x"}


def test_cli_on_a_database_file_is_seen_by_the_next_sidecar(tmp_path, make_sidecar) -> None:
    db = tmp_path / "sidecar.db"  # the file make_sidecar's sidecar uses
    _run("config", "set", "configstore", "a=1", "b=2", "--version", "7", "--db", str(db))
    _run("config", "set", "configstore", "a=10", "--db", str(db))
    assert _run("config", "get", "configstore", "a", "--db", str(db)) == {
        "a": {"value": "10", "version": "8"}
    }
    h = make_sidecar(app=False)
    with DaprClient(address=h.grpc_address) as c:
        items = c.get_configuration("configstore", []).items
    assert {k: (v.value, v.version) for k, v in items.items()} == {
        "a": ("10", "8"),
        "b": ("2", "7"),
    }


def test_cli_refuses_to_write_the_file_of_a_running_sidecar(tmp_path, make_sidecar) -> None:
    make_sidecar(app=False)  # owns tmp_path / "sidecar.db"
    result = CliRunner().invoke(
        app, ["config", "set", "configstore", "a=1", "--db", str(tmp_path / "sidecar.db")]
    )
    assert result.exit_code == 1
    assert "belongs to a running sidecar" in result.output and "--sidecar" in result.output


def test_cli_names_the_fix_when_no_sidecar_answers() -> None:
    result = CliRunner().invoke(
        app, ["config", "list", "configstore", "--sidecar", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "no sidecar answers at" in result.output and "--db" in result.output
