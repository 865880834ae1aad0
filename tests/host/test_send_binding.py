"""`funchost send binding` to a binding the app does not handle: a clear message, exit 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from funchost.cli import app
from funchost.testing import LocalRuntime

pytestmark = pytest.mark.e2e

QUEUE = (
    "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: queue\nspec:\n"
    "  type: bindings.kafka\n  version: v1\n  metadata: []\n"
)
HANDLER = "from funchost import invoke\n\n\n@invoke\nasync def fh_send_ping():\n    return 'pong'\n"


async def test_send_to_a_binding_without_a_handler(tmp_path: Path) -> None:
    (tmp_path / "fns").mkdir()
    (tmp_path / "fns" / "fh_send_app.py").write_text(HANDLER)
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "queue.yaml").write_text(QUEUE)
    async with LocalRuntime(
        tmp_path / "fns", resources=[tmp_path / "components"], db_path=tmp_path / "db.sqlite"
    ) as runtime:
        for name, needles in [
            (
                "queue",
                [
                    "the app has no handler for input binding 'queue'",
                    "(it answered 404 to POST /queue)",
                    "decorate a function with @binding('queue')",
                ],
            ),
            ("nope", ["ERR_INPUT_BINDING_NOT_FOUND", "add a bindings Component named 'nope'"]),
        ]:
            args = ["send", "binding", name, "{}", "--sidecar", runtime.http_url]
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env={"COLUMNS": "300"})
            text = " ".join(result.output.split())
            assert result.exit_code == 1, text
            for needle in needles:
                assert needle in text, text
