"""A sample user project (a functions folder, its bindings and its tests), written by the
plugin's tests into pytester's temporary directory."""

from __future__ import annotations

from typing import Any

ORDERS = """
from pydantic import BaseModel

from funchost import Drop, FunctionContext, binding, cron, invoke, topic


class Order(BaseModel):
    id: str
    amount: int = 0
    poison: bool = False


@topic("pubsub", "orders", dead_letter_topic="orders-dlq")
async def on_order(order: Order, ctx: FunctionContext) -> None:
    if order.poison:
        raise Drop("poison order")
    await ctx.save_state(f"order-{order.id}", order.model_dump())
    await ctx.invoke_binding("audit", "create", {"order": order.id, "amount": order.amount})


@topic("pubsub", "flaky", dead_letter_topic="flaky-dlq")
async def always_fails(data: dict) -> None:
    raise RuntimeError("the downstream service is down")


@cron("*/10 * * * *")
async def tick(ctx: FunctionContext) -> None:
    await ctx.save_state("ticks", (await ctx.get_state("ticks") or 0) + 1)


@invoke("orders/{order_id}", methods=("GET",))
async def get_order(order_id: str, ctx: FunctionContext):
    return await ctx.get_state(f"order-{order_id}")


@binding("queue")
async def on_queue(item: dict, ctx: FunctionContext) -> dict:
    await ctx.save_state("last-queued", item)
    return {"accepted": item["n"]}
"""

ALARM = """
from datetime import timedelta

from dapr.actor import Actor, ActorInterface, Remindable, actormethod

from funchost import actor


class AlarmInterface(ActorInterface):
    @actormethod(name="Arm")
    async def arm(self, seconds: int) -> None: ...

    @actormethod(name="Rang")
    async def rang(self) -> int: ...


@actor
class Alarm(Actor, AlarmInterface, Remindable):
    async def arm(self, seconds: int) -> None:
        await self.register_reminder(
            "ring", b"ring", due_time=timedelta(seconds=seconds), period=timedelta(0)
        )

    async def rang(self) -> int:
        found, count = await self._state_manager.try_get_state("rang")
        return count if found else 0

    async def receive_reminder(self, name, state, due_time, period, ttl=None) -> None:
        count = await self.rang()
        await self._state_manager.set_state("rang", count + 1)
        await self._state_manager.save_state()
"""

APPROVAL = '''
import json
import os
from datetime import timedelta

from dapr.ext.workflow import DaprWorkflowContext, when_any

from funchost import activity, workflow


@workflow
def approval(ctx: DaprWorkflowContext, request: dict):
    yield ctx.call_activity(record, input={"id": request["id"], "step": "requested"})
    approved = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(hours=24))
    winner = yield when_any([approved, timeout])
    outcome = "timed out" if winner == timeout else "approved"
    yield ctx.call_activity(record, input={"id": request["id"], "step": outcome})
    return outcome


@activity
def record(ctx, entry: dict) -> None:
    """Append the step to the journal file named by SAMPLE_JOURNAL (counts executions)."""
    path = os.environ.get("SAMPLE_JOURNAL")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\\n")
'''

AUDIT_BINDING = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: audit
spec:
  type: bindings.kafka
  version: v1
  metadata:
    - name: brokers
      value: "localhost:9092"
    - name: publishTopic
      value: audit
"""

QUEUE_BINDING = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: queue
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
    - name: queueName
      value: work
"""

CONFTEST = '''
import json
from pathlib import Path

import pytest


@pytest.fixture
def journal(tmp_path, monkeypatch):
    """Where the sample's `record` activity writes; read it back as a list of entries."""
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv("SAMPLE_JOURNAL", str(path))

    def read():
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    return read
'''

USER_TESTS = """
from datetime import timedelta

import pytest

from functions.alarm import AlarmInterface

pytestmark = pytest.mark.funchost(path="functions")


async def test_topic_handler_stores_the_order(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "o1", "amount": 3})
    await funchost_runtime.idle()
    assert await funchost_runtime.state().get("order-o1") == {
        "id": "o1", "amount": 3, "poison": False
    }


async def test_poison_message_is_dead_lettered(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "bad", "poison": True})
    await funchost_runtime.idle()
    dead = await funchost_runtime.dead_letters("orders")
    assert [d["data"]["id"] for d in dead] == ["bad"]
    assert dead[0]["dead_letter_topic"] == "orders-dlq"
    assert await funchost_runtime.state().get("order-bad") is None


async def test_failing_handler_is_retried_then_dead_lettered(funchost_runtime):
    await funchost_runtime.publish("pubsub", "flaky", {"id": "f1"})
    await funchost_runtime.idle()
    assert await funchost_runtime.dead_letters("flaky") == []  # first retry not due yet
    await funchost_runtime.advance(timedelta(minutes=5))
    dead = await funchost_runtime.dead_letters("flaky")
    assert [d["data"] for d in dead] == [{"id": "f1"}]
    assert "retries exhausted" in dead[0]["reason"]


async def test_output_binding_goes_to_the_outbox(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "o2", "amount": 5})
    await funchost_runtime.idle()
    sent = await funchost_runtime.outbox("audit")
    assert [item["data"] for item in sent] == [{"order": "o2", "amount": 5}]


async def test_invoke_reads_state(funchost_runtime):
    await funchost_runtime.state().save("order-o3", {"id": "o3", "amount": 1})
    resp = await funchost_runtime.invoke("orders/o3", http_method="GET")
    assert resp.status_code == 200
    assert resp.json() == {"id": "o3", "amount": 1}


async def test_input_binding(funchost_runtime):
    reply = await funchost_runtime.send_binding("queue", {"n": 7})
    assert reply.ok and reply.data == {"accepted": 7}
    assert await funchost_runtime.state().get("last-queued") == {"n": 7}


async def test_cron_fires_on_the_virtual_clock(funchost_runtime):
    assert await funchost_runtime.state().get("ticks") is None
    await funchost_runtime.advance(timedelta(hours=1))  # */10 * * * *: six ticks
    assert await funchost_runtime.state().get("ticks") == 6


async def test_actor_reminder_fires_after_one_hour(funchost_runtime):
    alarm = funchost_runtime.actor("Alarm", "a1", AlarmInterface)
    await alarm.Arm(3600)
    await funchost_runtime.advance(timedelta(minutes=59))
    assert await alarm.Rang() == 0
    await funchost_runtime.advance(timedelta(minutes=1))
    assert await alarm.Rang() == 1


async def test_approval_times_out_after_24_hours(funchost_runtime, journal):
    wf = funchost_runtime.workflows
    instance = await wf.start("approval", input={"id": "r1"})
    await funchost_runtime.idle()
    await funchost_runtime.advance(timedelta(hours=23))
    assert (await wf.status(instance)).runtime_status.name == "RUNNING"
    await funchost_runtime.advance(timedelta(hours=1))
    assert await wf.result(instance, timeout=10) == "timed out"
    assert [e["step"] for e in journal()] == ["requested", "timed out"]


async def test_approval_approved(funchost_runtime, journal):
    wf = funchost_runtime.workflows
    instance = await wf.start("approval", input={"id": "r2"})
    await funchost_runtime.idle()
    await wf.raise_event(instance, "approve", {"by": "ann"})
    assert await wf.result(instance, timeout=10) == "approved"
    assert [e["step"] for e in journal()] == ["requested", "approved"]


async def test_crash_and_restart_resumes_the_workflow(funchost_runtime, journal):
    wf = funchost_runtime.workflows
    instance = await wf.start("approval", input={"id": "r3"})
    await funchost_runtime.idle()
    assert [e["step"] for e in journal()] == ["requested"]
    await funchost_runtime.crash_and_restart()
    await wf.raise_event(instance, "approve")
    assert await wf.result(instance, timeout=10) == "approved"
    # the activity that completed before the crash did not run again
    assert [e["step"] for e in journal()] == ["requested", "approved"]
"""


def write_sample(pytester: Any, tests: str | None = USER_TESTS, **extra_tests: str) -> None:
    """Write the sample project (functions/, bindings/, conftest) and its tests."""
    pytester.mkpydir("functions")
    (pytester.path / "functions" / "orders.py").write_text(ORDERS)
    (pytester.path / "functions" / "alarm.py").write_text(ALARM)
    (pytester.path / "functions" / "approval.py").write_text(APPROVAL)
    (pytester.path / "bindings").mkdir()
    (pytester.path / "bindings" / "audit.yaml").write_text(AUDIT_BINDING)
    (pytester.path / "bindings" / "queue.yaml").write_text(QUEUE_BINDING)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    files = dict(extra_tests)
    if tests is not None:
        files["test_user"] = tests
    if files:
        pytester.makepyfile(**files)
