"""A process running the embedded sidecar (file database) + an SDK worker, for kill -9 tests.

    python _crash_app.py DB LOG SCENARIO start    # schedule the workflow, then run until killed
    python _crash_app.py DB LOG SCENARIO resume   # restart on the same DB, print the outcome

Activities append "start NAME" / "end NAME" lines to LOG, so the test counts executions.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

from funchost.sidecar import free_port
from funchost.sidecar.server import Sidecar, SidecarConfig, SidecarThread

DB, LOG, SCENARIO, PHASE = sys.argv[1:5]
IID = f"crash-{SCENARIO}"


def _log(line: str) -> None:
    with open(LOG, "a") as f:
        f.write(line + "\n")


def step(ctx: wf.WorkflowActivityContext, name: str) -> str:
    _log(f"start {name}")
    if SCENARIO == "during" and name == "s2" and PHASE == "start":
        time.sleep(3600)  # killed while this activity runs
    _log(f"end {name}")
    return name.upper()


def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    out = []
    for i in range(1, n + 1):
        r = yield ctx.call_activity(step, input=f"s{i}")
        out.append(r)
    return out


def with_timer(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    a = yield ctx.call_activity(step, input="s1")
    yield ctx.create_timer(timedelta(seconds=1.5))
    b = yield ctx.call_activity(step, input="s2")
    return [a, b]


def fan(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    results = yield wf.when_all([ctx.call_activity(step, input=f"f{i}") for i in range(n)])
    return sorted(results)


def main() -> None:
    sidecar = Sidecar(SidecarConfig(http_port=free_port(), grpc_port=0, db_path=DB))
    thread = SidecarThread(sidecar)
    thread.start()
    port = str(sidecar.config.grpc_port)
    rt = wf.WorkflowRuntime(host="127.0.0.1", port=port)
    for fn in (chain, with_timer, fan):
        rt.register_workflow(fn, name=fn.__name__)
    rt.register_activity(step, name="step")
    rt.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)
    if PHASE == "start":
        wf_name, arg = {
            "during": ("chain", 3),
            "between": ("chain", 6),
            "timer": ("with_timer", 0),
            "fanout": ("fan", 30),
        }[SCENARIO]
        client.schedule_new_workflow(wf_name, input=arg, instance_id=IID)
        print("SCHEDULED", flush=True)
        time.sleep(3600)
        return
    state = client.wait_for_workflow_completion(IID, timeout_in_seconds=60)
    assert state is not None
    print(json.dumps({"status": state.runtime_status.name, "output": state.serialized_output}))
    sys.stdout.flush()
    rt.shutdown()
    thread.stop()


if __name__ == "__main__":
    main()
