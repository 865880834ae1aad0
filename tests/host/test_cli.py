"""CLI: list and check output."""

from __future__ import annotations

from pathlib import Path

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
