"""A workflow worker app for the cross-app tests, run as `python wf_app.py` next to its sidecar.

Env: APP_ID, DAPR_GRPC_PORT, WF_TARGET (the other app's id, for the parent), WF_RUNS (a file
each activity run appends a line to, so tests count runs), WF_GATE (a file the `slow`
activity waits for: it is "mid-activity" until the test creates it).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from dapr.ext.workflow import DaprWorkflowContext, WorkflowActivityContext, WorkflowRuntime

APP_ID = os.environ["APP_ID"]
TARGET = os.environ.get("WF_TARGET", "")
RUNS = Path(os.environ["WF_RUNS"]) if os.environ.get("WF_RUNS") else None
GATE = Path(os.environ["WF_GATE"]) if os.environ.get("WF_GATE") else None

rt = WorkflowRuntime(host="127.0.0.1", port=os.environ["DAPR_GRPC_PORT"])


def _record(what: str) -> None:
    if RUNS is not None:
        with RUNS.open("a") as fh:
            fh.write(f"{APP_ID} {what}\n")


@rt.activity(name="where")
def where(ctx: WorkflowActivityContext, value: Any) -> str:
    """Which app ran it."""
    _record(f"where {value}")
    return f"{APP_ID}:{value}"


@rt.activity(name="slow")
def slow(ctx: WorkflowActivityContext, value: Any) -> str:
    """Runs until the gate file exists (the test kills the app meanwhile)."""
    _record(f"slow-start {value}")
    while GATE is not None and not GATE.exists():
        time.sleep(0.05)
    _record(f"slow-done {value}")
    return f"{APP_ID}:slow:{value}"


@rt.activity(name="boom")
def boom(ctx: WorkflowActivityContext, value: Any) -> str:
    raise ValueError(f"boom in {APP_ID}: {value}")


@rt.workflow(name="child")
def child(ctx: DaprWorkflowContext, value: Any) -> Any:
    """A child that runs its activity in its own app."""
    here = yield ctx.call_activity("where", input=value)
    return {"child_app": APP_ID, "activity": here}


@rt.workflow(name="parent")
def parent(ctx: DaprWorkflowContext, value: Any) -> Any:
    """One activity and one child in the target app, then one activity here."""
    remote = yield ctx.call_activity("where", input=value, app_id=TARGET)
    kid = yield ctx.call_child_workflow("child", input=value, app_id=TARGET)
    local = yield ctx.call_activity("where", input=value)
    return {"remote": remote, "child": kid, "local": local}


@rt.workflow(name="parent_slow")
def parent_slow(ctx: DaprWorkflowContext, value: Any) -> Any:
    done = yield ctx.call_activity("where", input=f"{value}-first", app_id=TARGET)
    mid = yield ctx.call_activity("slow", input=value, app_id=TARGET)
    return [done, mid]


@rt.workflow(name="parent_fail")
def parent_fail(ctx: DaprWorkflowContext, value: Any) -> Any:
    try:
        yield ctx.call_activity("boom", input=value, app_id=TARGET)
    except Exception as exc:  # the task failure carries the remote error
        return f"caught: {exc}"
    return "no error"


@rt.workflow(name="parent_missing")
def parent_missing(ctx: DaprWorkflowContext, value: Any) -> Any:
    """`child` is a workflow of the target, not an activity: the target's worker refuses it."""
    try:
        yield ctx.call_activity("child", input=value, app_id=TARGET)
    except Exception as exc:
        return f"caught: {exc}"
    return "ran"


@rt.workflow(name="parent_wait")
def parent_wait(ctx: DaprWorkflowContext, value: Any) -> Any:
    """A child in the other app that waits for an event (terminated recursively)."""
    out = yield ctx.call_child_workflow("waiter", input=value, app_id=TARGET, instance_id=value)
    return out


@rt.workflow(name="waiter")
def waiter(ctx: DaprWorkflowContext, value: Any) -> Any:
    got = yield ctx.wait_for_external_event("go")
    return got


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rt.start()
    stop.wait()
    rt.shutdown()


if __name__ == "__main__":
    main()
