"""A failed activity try is logged once, saying which try of its retry policy it was; the
last one says so (no "retry" on the final failure)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from funchost.testing import LocalRuntime

pytestmark = pytest.mark.e2e

FLOWS = """
from datetime import timedelta

import dapr.ext.workflow as wf

from funchost import activity, workflow


@activity
def fh_tries_boom(ctx, data):
    raise RuntimeError("no luck")


@workflow
def fh_tries_flow(ctx, data):
    policy = wf.RetryPolicy(first_retry_interval=timedelta(seconds=1), max_number_of_attempts=3)
    try:
        yield ctx.call_activity(fh_tries_boom, input=data, retry_policy=policy)
    except wf.TaskFailedError:
        return "gave up"
    return "ok"


@workflow
def fh_tries_once(ctx, data):
    try:
        yield ctx.call_activity(fh_tries_boom, input=data)
    except wf.TaskFailedError:
        return "gave up"
    return "ok"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "fns").mkdir()
    (tmp_path / "fns" / "fh_tries_flows.py").write_text(FLOWS)
    return tmp_path / "fns"


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage().split(": no luck")[0]
        for r in caplog.records
        if "no luck" in r.getMessage() and r.levelno >= logging.WARNING
    ]


async def test_each_try_once_and_the_last_says_so(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with LocalRuntime(folder, db_path=tmp_path / "db.sqlite") as runtime:
        instance_id = await runtime.workflows.start("fh_tries_flow", input=1)
        for _ in range(3):
            await runtime.advance(timedelta(seconds=2))
        assert await runtime.workflows.result(instance_id) == "gave up"

        assert _failures(caplog) == [
            "activity fh_tries_boom failed (try 1 of 3, will be retried)",
            "activity fh_tries_boom failed (try 2 of 3, will be retried)",
            "activity fh_tries_boom failed (last try, 3 of 3: no more retries)",
        ]

        caplog.clear()
        instance_id = await runtime.workflows.start("fh_tries_once", input=1)
        assert await runtime.workflows.result(instance_id) == "gave up"
        assert _failures(caplog) == [
            "activity fh_tries_boom failed "
            "(the workflow gets the error, unless the call has a retry policy)"
        ]
