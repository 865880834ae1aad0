"""The HTTP API's contract: shapes, and every error case (404, 409, 422)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from funchost.testing import LocalRuntime

from ._support import call, start, task_request

pytestmark = pytest.mark.e2e


async def test_unknown_task_and_workflow_are_404(agent: LocalRuntime) -> None:
    for method, path, code in [
        ("GET", "tasks/nope", "ERR_TASK_NOT_FOUND"),
        ("GET", "tasks/nope/events", "ERR_TASK_EVENTS_NOT_FOUND"),
        ("POST", "tasks/nope/complete", "ERR_TASK_NOT_FOUND"),
        ("GET", "workflows/nope", "ERR_WORKFLOW_NOT_FOUND"),
        ("DELETE", "workflows/nope", "ERR_WORKFLOW_NOT_FOUND"),
    ]:
        resp = await call(agent, path, method=method)
        assert resp.status_code == 404, (method, path, resp.text)
        body = resp.json()
        assert set(body) == {"errorCode", "message"}, body  # one shape for every error
        assert body["errorCode"] == code and "nope" in body["message"]


async def test_duplicate_task_id_is_409(agent: LocalRuntime) -> None:
    workflow_id = await start(agent, "t-dup")
    await agent.workflows.result(workflow_id)

    resp = await call(agent, "tasks/process", json=task_request("t-dup", title="Another one"))
    assert resp.status_code == 409
    assert resp.json() == {
        "errorCode": "ERR_TASK_EXISTS",
        "message": "task 't-dup' already exists: use a new task_id",
    }

    racing = await asyncio.gather(
        *(call(agent, "tasks/process", json=task_request("t-race")) for _ in range(4))
    )
    assert sorted(resp.status_code for resp in racing) == [200, 409, 409, 409]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("tasks/process", {"title": "No id", "assignee": "a@example.com"}, "task_id"),
        ("tasks/process", {**task_request("t-x"), "deadline_seconds": 0}, "deadline_seconds"),
        ("tasks/process", {**task_request("bad id!")}, "task_id"),
        ("tasks/process", {**task_request("t-x"), "priority": "high"}, "priority"),
        ("chat/alice", {"content": ""}, "content"),
        ("chat/alice", {"text": "hello"}, "content"),
    ],
)
async def test_bad_bodies_are_422_with_field_details(
    agent: LocalRuntime, path: str, body: dict[str, object], field: str
) -> None:
    resp = await call(agent, path, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errorCode"] == "ERR_INVALID_PAYLOAD" and resp.json()["message"]
    assert field in [error["loc"][-1] for error in resp.json()["errors"]]


async def test_complete_cancels_the_deadline(agent: LocalRuntime) -> None:
    workflow_id = await start(agent, "t-finish", deadline_seconds=60)
    await agent.workflows.result(workflow_id)

    resp = await call(agent, "tasks/t-finish/complete")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "done"

    await agent.advance(timedelta(minutes=2))
    resp = await call(agent, "tasks/t-finish", method="GET")
    assert resp.json()["status"] == "done"
