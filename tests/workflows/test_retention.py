"""Bounded memory: finished instances leave memory, and the retention policy purges them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from funchost.sidecar import free_port
from funchost.sidecar.clock import VirtualClock
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread
from funchost.sidecar.workflows._pb import FAILED
from funchost.sidecar.workflows.retention import RetentionPolicy
from funchost.wiring.workflows import _fresh


def hello(ctx: Any, name: str) -> str:
    return f"hello {name}"


def greet(ctx: Any, name: str) -> Any:
    return (yield ctx.call_activity(hello, input=name))


class Env:
    def __init__(self, db: Path, retention: dict[str, str] | None) -> None:
        self.closed = False
        self.clock = VirtualClock()
        config = SidecarConfig(
            http_port=free_port(), grpc_port=0, db_path=db, workflow_retention=retention
        )
        self.sidecar = Sidecar(config, clock=self.clock)
        self.thread = SidecarThread(self.sidecar)
        self.thread.start()
        port = str(self.sidecar.config.grpc_port)
        self.runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port)
        self.runtime.register_workflow(_fresh(greet), name="greet")
        self.runtime.register_activity(_fresh(hello), name="hello")
        self.runtime.start()
        self.client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)

    @property
    def engine(self) -> Any:
        return self.sidecar.get("workflows").engine

    def advance(self, seconds: float) -> None:
        self.thread.call(self.sidecar.idle())
        self.thread.call(self.clock.advance(seconds))
        self.thread.call(self.sidecar.idle())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.client.close()
        self.runtime.shutdown()
        self.thread.stop()


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    logging.getLogger("durabletask-worker").setLevel(logging.WARNING)
    envs: list[Env] = []

    def make(retention: dict[str, str] | None) -> Env:
        env = Env(tmp_path / "wf.db", retention)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def test_finished_instances_leave_memory_and_load_on_demand(make_env: Any) -> None:
    env = make_env({})
    iid = env.client.schedule_new_workflow(greet, input="ada")
    state = env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.serialized_output == '"hello ada"'
    assert iid not in env.engine.instances  # finished: read back from the store on demand
    again = env.client.get_workflow_state(iid)
    assert again is not None and again.serialized_output == '"hello ada"'


def test_retention_purges_after_the_policy_and_across_restarts(make_env: Any) -> None:
    env = make_env({"completed": "1h"})
    iid = env.client.schedule_new_workflow(greet, input="bob")
    env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    env.advance(30 * 60)
    assert env.client.get_workflow_state(iid) is not None  # kept for the hour
    env.close()
    restarted = make_env({"completed": "1h"})  # same database, a new sidecar
    assert iid not in restarted.engine.instances  # not loaded at start-up
    restarted.advance(61 * 60)  # a new virtual clock starts at the real time again
    assert restarted.client.get_workflow_state(iid) is None  # purged from the store


def test_policy_parsing() -> None:
    policy = RetentionPolicy.from_spec({"anyTerminal": "72h", "failed": "0s"})
    assert sorted(policy.ttl.values()) == [0.0, 72 * 3600.0, 72 * 3600.0]
    assert not RetentionPolicy.from_env({"FUNCHOST_WORKFLOW_RETENTION": "off"}).enabled
    assert RetentionPolicy.from_env({}).ttl  # the 168h default
    with pytest.raises(ValueError, match="FUNCHOST_WORKFLOW_RETENTION"):
        RetentionPolicy.from_env({"FUNCHOST_WORKFLOW_RETENTION": "a week"})


def test_configuration_policy_sets_the_retention(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
        "spec:\n  workflow:\n    stateRetentionPolicy: {anyTerminal: 72h, failed: 0s}\n"
    )
    sidecar = Sidecar(SidecarConfig(http_port=free_port(), grpc_port=0, config_path=path))
    thread = SidecarThread(sidecar)
    thread.start()
    try:
        spec = sidecar.get("workflows")._retention
        assert RetentionPolicy.from_spec(spec).ttl[FAILED] == 0.0  # purged at once
    finally:
        thread.stop()


def test_a_large_sweep_yields_the_loop_between_transactions(make_env: Any) -> None:
    """Purging thousands at once must not stall the sidecar: one small transaction at a time."""
    env = make_env({})  # no policy: nothing is purged on its own
    ids = [env.client.schedule_new_workflow(greet, input=str(i)) for i in range(5)]
    for iid in ids:
        env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    engine = env.engine
    policy = RetentionPolicy.from_spec({"completed": "0s"})

    async def sweep() -> tuple[int, list[int]]:
        seen: list[int] = []  # expired instances left, at each turn of the loop meanwhile

        async def watch() -> None:
            while True:
                ttl = dict(policy.ttl)
                seen.append(len(engine.backend.expired_ids(env.clock.time(), ttl, 100)))
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        purged = await engine.purge_all_expired(policy, limit=2)
        watcher.cancel()
        return purged, seen

    purged, seen = env.thread.call(sweep())
    assert purged == 5
    assert {3, 1} <= set(seen)  # the loop ran between the transactions of 2
    assert all(env.client.get_workflow_state(iid) is None for iid in ids)
