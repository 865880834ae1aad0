"""`funchost workflow list|show|history` and `funchost status` against a running sample."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from funchost.cli import app as cli
from funchost.observability import configure_logging
from funchost.testing import LocalRuntime

pytestmark = pytest.mark.e2e
SAMPLE = Path(__file__).parent / "sample" / "workflows"


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    async with LocalRuntime(SAMPLE, resources=[]) as rt:
        yield rt


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


async def test_history_timeline_of_a_finished_workflow(runtime: LocalRuntime) -> None:
    stream = io.StringIO()
    handler = configure_logging("json", level="INFO", stream=stream)
    try:
        instance = await runtime.workflows.start("doubler", input=3, instance_id="wf-double-1")
        assert await runtime.workflows.result(instance) == 12
    finally:
        logging.getLogger().removeHandler(handler)
    address = runtime.grpc_address

    out = run("workflow", "history", instance, "--address", address)
    order = [
        "workflow started",
        "activity scheduled",
        "activity completed",
        "activity scheduled",
        "activity completed",
        "workflow ended",
    ]
    positions = [m.start() for label in order for m in [re.search(label, out)] if m]
    assert len(positions) == len(order)
    # the two activity rows appear in order, each pair once
    assert out.count("activity completed") == 2 and out.count("activity scheduled") == 2
    assert "doubler" in out and "COMPLETED -> 12" in out
    assert re.search(r"activity completed\s+│\s+double\s+│\s+6\s", out)
    assert re.search(r"activity completed\s+│\s+double\s+│\s+12\s", out)

    doc = json.loads(run("workflow", "history", instance, "--address", address, "--json"))
    kinds = [e["event"] for e in doc]
    assert kinds[0] == "executionStarted" and kinds[-1] == "executionCompleted"
    assert [e["detail"] for e in doc if e["event"] == "taskCompleted"] == ["6", "12"]
    assert all(e["took"] is not None for e in doc if e["event"] == "taskCompleted")

    listed = json.loads(run("workflow", "list", "--address", address, "--json"))
    assert [(w["instance_id"], w["name"], w["status"]) for w in listed] == [
        (instance, "doubler", "COMPLETED")
    ]
    shown = json.loads(run("workflow", "show", instance, "--address", address, "--json"))
    assert shown["output"] == "12" and shown["input"] == "3"

    # activities ran as observed invocations bound to the instance
    records = [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    doubled = [r for r in records if str(r["msg"]).startswith("doubling")]
    assert [r["instance_id"] for r in doubled] == [instance, instance]
    assert {r["function"] for r in doubled} == {"double"} and doubled[0]["trigger"] == "activity"
    assert doubled[0]["trace_id"] == doubled[1]["trace_id"]  # one trace per instance

    status = run(
        "status", "--once", "--app-url", runtime.app_url, "--sidecar-url", runtime.http_url
    )
    assert "doubler" in status and "double" in status
    assert re.search(r"doubler\s+│\s+1\s+│\s+1\s+│", status)  # workflow runs: started, completed
    assert "recent invocations" in status


def test_history_of_unknown_instance_fails_cleanly(tmp_path: Path) -> None:
    from funchost.sidecar import free_port

    result = CliRunner().invoke(
        cli, ["workflow", "history", "nope", "--address", f"127.0.0.1:{free_port()}"]
    )
    assert result.exit_code == 1


async def test_activities_continue_the_trace_of_the_starting_handler(
    runtime: LocalRuntime,
) -> None:
    stream = io.StringIO()
    handler = configure_logging("json", level="INFO", stream=stream)
    try:
        await runtime.publish("pubsub", "start-doubler", {"id": "wf-traced", "n": 5})
        await runtime.idle()
        assert await runtime.workflows.result("wf-traced") == 20
    finally:
        logging.getLogger().removeHandler(handler)
    records = [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    started = next(r for r in records if r["msg"] == "starting doubler wf-traced")
    doubled = [r for r in records if str(r["msg"]).startswith("doubling")]
    assert len(doubled) == 2
    assert {r["trace_id"] for r in doubled} == {started["trace_id"]}
