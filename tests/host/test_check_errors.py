"""`funchost check` catches what used to fail only at run time, at the user's file:line, with
the fix (a table: source, the line it must name, what the message must say)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from funchost.cli import app

HEAD = (
    "from datetime import timedelta\n"
    "from dapr.actor import Actor, ActorInterface, Remindable, actormethod\n"
    "from funchost import activity, actor, binding, topic, workflow\n"
    "\n"
)  # 4 lines: the case's code starts on line 5

IFACE = (
    "class PingInterface(ActorInterface):\n"
    "    @actormethod(name='Ping')\n"
    "    async def ping(self) -> None: ...\n"
)
REMINDER = (
    "    async def ping(self) -> None: ...\n"
    "    async def receive_reminder(self, name, state, due_time, period, ttl=None):\n"
    "        pass\n"
)

CASES = {
    "workflow_without_context": (
        "@workflow\ndef wf():\n    return 1\n",
        5,
        ["@workflow wf() takes no context parameter", "def wf(ctx: DaprWorkflowContext, input)"],
    ),
    "async_workflow": (
        "@workflow\nasync def wf(ctx, data):\n    return data\n",
        5,
        [
            "@workflow wf is `async def`",
            "plain generator function",
            "put async code in an @activity",
        ],
    ),
    "activity_without_context": (
        "@activity\ndef act():\n    return 1\n",
        5,
        ["@activity act() takes no context parameter", "def act(ctx: WorkflowActivityContext"],
    ),
    "topic_without_topic": (
        "\n\n@topic('pubsub')\nasync def on_order(order: dict):\n    pass\n",
        7,
        ["@topic('pubsub') needs a topic name", "@topic('pubsub', 'orders')"],
    ),
    "empty_binding_name": (
        "@binding('')\nasync def from_queue(payload: dict):\n    pass\n",
        5,
        ["@binding(''): the binding name is empty", "@binding('orders')", "'from_queue'"],
    ),
    "bad_cel_match": (
        "@topic('pubsub', 'orders', match='event.type = \"created\"')\n"
        "async def on_created(order: dict):\n    pass\n",
        5,
        [
            "match expression 'event.type = \"created\"' is invalid: unexpected '=' at column 12",
            "compare with '=='",
        ],
    ),
    "cel_ending_early": (
        "@topic('pubsub', 'orders', match='event.type ==')\n"
        "async def on_created(order: dict):\n    pass\n",
        5,
        ["it ends too early, after 'event.type ==': complete it"],
    ),
    "reminder_without_remindable": (
        IFACE + "\n\n@actor\nclass Pinger(Actor, PingInterface):\n" + REMINDER,
        10,
        [
            "actor Pinger defines receive_reminder but does not inherit dapr.actor.Remindable",
            "class Pinger(Actor, PingInterface, Remindable)",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_names_the_users_line_and_the_fix(tmp_path: Path, case: str) -> None:
    source, line, needles = CASES[case]
    file = tmp_path / f"fh_check_{case}.py"
    file.write_text(HEAD + source)
    result = CliRunner().invoke(
        app, ["check", str(tmp_path), "--no-plugins"], env={"COLUMNS": "400"}
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert f"{file}:{line}:" in text, text
    for needle in needles:
        assert needle in text, text
    assert "funchost/triggers.py" not in text and "Traceback" not in text


def test_a_remindable_actor_and_correct_workflows_pass(tmp_path: Path) -> None:
    source = (
        IFACE
        + "\n\n@actor\nclass Pinger(Actor, PingInterface, Remindable):\n"
        + REMINDER
        + "\n\n@workflow\ndef wf(ctx):\n    return 1\n"
        + "\n\n@activity\nasync def act(ctx, data):\n    return data\n"
        + "\n\n@binding\nasync def queue(payload: dict):\n    pass\n"
    )
    (tmp_path / "fh_check_ok.py").write_text(HEAD + source)
    result = CliRunner().invoke(
        app, ["check", str(tmp_path), "--no-plugins"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    assert "1 actor" in result.output and "1 workflow" in result.output
