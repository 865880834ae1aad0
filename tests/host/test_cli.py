"""CLI: list and check output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from funchost.cli import app
from tests.host.conftest import SAMPLES

runner = CliRunner()


def test_list_shows_every_kind() -> None:
    result = runner.invoke(
        app, ["list", str(SAMPLES / "all_kinds"), "--no-plugins"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    for kind in ("topic", "binding", "cron", "invoke", "actor", "workflow", "activity"):
        assert f" {kind} " in result.output
    assert "pubsub/orders if event.type == 'refund'" in result.output
    assert "orders.py:" in result.output and "durable.py:" in result.output
    assert "[bulk]" in result.output


def test_list_json() -> None:
    import json

    result = runner.invoke(app, ["list", str(SAMPLES / "all_kinds"), "--no-plugins", "--json"])
    assert result.exit_code == 0
    assert len(json.loads(result.output)) == 13


def test_check_ok_and_failure(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["check", str(SAMPLES / "all_kinds"), "--no-plugins"])
    assert ok.exit_code == 0 and "ok" in ok.output
    (tmp_path / "fh_cli_bad.py").write_text(
        "from funchost import cron\n\n\n@cron('* * 32 * *')\ndef tick():\n    pass\n"
    )
    bad = runner.invoke(app, ["check", str(tmp_path), "--no-plugins"])
    assert bad.exit_code == 1
    text = " ".join(bad.output.split())
    assert "fh_cli_bad.py:" in text and "day-of-month field '32' is invalid" in text


def test_a_folder_without_functions_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def add(a, b):\n    return a + b\n")
    result = runner.invoke(app, ["list", str(tmp_path), "--no-plugins"])
    assert result.exit_code == 0
    assert "no functions found in" in " ".join(result.output.split())


def _served_routes(monkeypatch, args: list[str], env: dict[str, str] | None = None) -> Any:
    """Run `funchost ARGS` with the server's run() replaced: the routes of the app it built.

    The app port is a free one (`--port`), so this passes while `funchost run` holds 8000.
    """
    from funchost.shutdown import DrainingServer
    from funchost.sidecar import free_port

    built: list[set[str]] = []

    def fake_run(self: DrainingServer, sockets: Any = None) -> None:
        app = self.config.app
        built.append({getattr(r, "path", "") for r in app.routes})

    monkeypatch.setattr(DrainingServer, "run", fake_run)
    result = runner.invoke(app, [*args, "--port", str(free_port())], env=env)
    return result, built


def test_serve_enable_selects_a_unit(monkeypatch) -> None:
    folder = str(SAMPLES / "all_kinds")
    everything, built_all = _served_routes(monkeypatch, ["serve", folder, "--no-plugins"])
    assert everything.exit_code == 0, everything.output
    api, built_api = _served_routes(
        monkeypatch, ["serve", folder, "--no-plugins", "--enable", "api"]
    )
    assert api.exit_code == 0, api.output
    workers, built_env = _served_routes(
        monkeypatch, ["serve", folder, "--no-plugins"], env={"FUNCHOST_ENABLE": "workers"}
    )
    assert workers.exit_code == 0, workers.output
    all_routes, api_routes, worker_routes = built_all[0], built_api[0], built_env[0]
    assert "/dapr/subscribe" in all_routes and "/dapr/config" in all_routes
    assert api_routes < all_routes and worker_routes < all_routes
    assert not any(p.startswith("/actors") for p in api_routes | worker_routes)
    topic_route = "/events/pubsub/orders/on_order"
    assert topic_route in worker_routes and topic_route not in api_routes


def test_enable_rejects_an_unknown_name_and_documents_values(monkeypatch) -> None:
    bad, built = _served_routes(
        monkeypatch, ["serve", str(SAMPLES / "all_kinds"), "--no-plugins", "--enable", "apii"]
    )
    assert bad.exit_code == 1 and not built
    assert "apii" in " ".join(bad.output.split())
    for command in ("serve", "run"):
        help_text = " ".join(
            runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output.split()
        )
        assert "--enable" in help_text and "FUNCHOST_ENABLE" in help_text
        for word in ("api", "workers", "actors", "workflows", "topic", "function names"):
            assert word in help_text, (command, word)
