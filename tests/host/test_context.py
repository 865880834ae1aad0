"""FunctionContext against the real embedded sidecar: state with etags, publish."""

from __future__ import annotations

import sys

import pytest

from tests.host.conftest import SAMPLES

pytestmark = [pytest.mark.e2e, pytest.mark.funchost(path=str(SAMPLES / "context_ops"))]


async def test_state_with_etags(funchost_runtime) -> None:
    resp = await funchost_runtime.invoke("state/k1", http_method="PUT", json={"a": 1})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"value": {"a": 1, "v": 2}, "conflict": True, "missing": None}
    assert await funchost_runtime.state().get("k1") == {"a": 1, "v": 2}


async def test_publish_reaches_topic_handler(funchost_runtime) -> None:
    received = sys.modules["ops"].RECEIVED
    received.clear()
    resp = await funchost_runtime.invoke("publish", json={"hello": "world"})
    assert resp.status_code == 200, resp.text
    await funchost_runtime.idle()
    assert received == [({"hello": "world"}, True, True)]


async def test_secret_workflow_and_actor_from_a_function(funchost_runtime, monkeypatch) -> None:
    monkeypatch.setenv("FH_TEST_SECRET", "hush")
    resp = await funchost_runtime.invoke("secret/FH_TEST_SECRET", http_method="GET")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"FH_TEST_SECRET": "hush"}

    resp = await funchost_runtime.invoke("triple/14")
    assert resp.status_code == 200, resp.text
    assert resp.json()["output"] == "42"

    first = await funchost_runtime.invoke("tally/t1", json=2)
    second = await funchost_runtime.invoke("tally/t1", json=5)
    assert (first.json(), second.json()) == (2, 7)
