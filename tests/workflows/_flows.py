"""Workflows and activities of the seed-document patterns, registered on one WorkflowRuntime."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

calls: Counter[str] = Counter()
compensations: list[str] = []
_lock = threading.Lock()


def _count(key: str) -> int:
    with _lock:
        calls[key] += 1
        return calls[key]


# -- activities ---------------------------------------------------------------------------------


def hello(ctx: wf.WorkflowActivityContext, name: str) -> str:
    _count(f"hello:{name}")
    return f"hello {name}"


def square(ctx: wf.WorkflowActivityContext, n: int) -> int:
    return n * n


def check(ctx: wf.WorkflowActivityContext, count: int) -> str:
    return "done" if count >= 3 else "pending"


def flaky(ctx: wf.WorkflowActivityContext, key: str) -> str:
    if _count(f"flaky:{key}") < 3:
        raise RuntimeError(f"flaky {key} failed")
    return f"ok {key}"


def always_fails(ctx: wf.WorkflowActivityContext, what: str) -> None:
    raise ValueError(f"cannot {what}")


def reserve(ctx: wf.WorkflowActivityContext, item: str) -> str:
    return f"reserved {item}"


def undo(ctx: wf.WorkflowActivityContext, what: str) -> None:
    with _lock:
        compensations.append(what)


# -- workflows ----------------------------------------------------------------------------------


def chain(ctx: wf.DaprWorkflowContext, name: str) -> Any:
    a = yield ctx.call_activity(hello, input=name)
    b = yield ctx.call_activity(hello, input=a)
    c = yield ctx.call_activity(hello, input=b)
    return [a, b, c]


def fan_out(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    tasks = [ctx.call_activity(square, input=i) for i in range(n)]
    results = yield wf.when_all(tasks)
    return sum(results)


def monitor(ctx: wf.DaprWorkflowContext, count: int) -> Any:
    status = yield ctx.call_activity(check, input=count)
    if status == "done":
        return count
    ctx.set_custom_status(f"checked {count}")
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(minutes=5))
    ctx.continue_as_new(count + 1)


def approval(ctx: wf.DaprWorkflowContext, order: str) -> Any:
    event = ctx.wait_for_external_event("approval")
    timeout = ctx.create_timer(timedelta(hours=24))
    winner = yield wf.when_any([event, timeout])
    if winner == timeout:
        return f"{order}: timed out"
    return f"{order}: {event.get_result()}"


def waits_forever(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    first = yield ctx.wait_for_external_event("go")
    second = yield ctx.wait_for_external_event("go")
    other = yield ctx.wait_for_external_event("other")
    return [first, second, other]


def child(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    r = yield ctx.call_activity(square, input=n)
    return r


def parent(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    tasks = [
        ctx.call_child_workflow(child, input=i, instance_id=f"{ctx.instance_id}-c{i}")
        for i in range(n)
    ]
    results = yield wf.when_all(tasks)
    return results


RETRY = wf.RetryPolicy(
    first_retry_interval=timedelta(seconds=10),
    max_number_of_attempts=3,
    backoff_coefficient=2.0,
)


def retrying(ctx: wf.DaprWorkflowContext, key: str) -> Any:
    r = yield ctx.call_activity(flaky, input=key, retry_policy=RETRY)
    return r


def flaky_child(ctx: wf.DaprWorkflowContext, key: str) -> Any:
    if _count(f"child:{key}") < 2:
        raise RuntimeError(f"child {key} failed")
    return f"child ok {key}"


def child_retrying(ctx: wf.DaprWorkflowContext, key: str) -> Any:
    r = yield ctx.call_child_workflow(flaky_child, input=key, retry_policy=RETRY)
    return r


def saga(ctx: wf.DaprWorkflowContext, order: str) -> Any:
    done: list[str] = []
    try:
        yield ctx.call_activity(reserve, input=f"{order}/hotel")
        done.append(f"{order}/hotel")
        yield ctx.call_activity(reserve, input=f"{order}/car")
        done.append(f"{order}/car")
        yield ctx.call_activity(always_fails, input=f"pay {order}")
    except Exception as exc:
        for item in reversed(done):
            yield ctx.call_activity(undo, input=item)
        return {"compensated": list(reversed(done)), "error": str(exc)}
    return {"compensated": []}


def fails(ctx: wf.DaprWorkflowContext, what: str) -> Any:
    yield ctx.call_activity(always_fails, input=what)


def parent_of_failure(ctx: wf.DaprWorkflowContext, what: str) -> Any:
    try:
        yield ctx.call_child_workflow(fails, input=what, instance_id=f"{ctx.instance_id}-kid")
    except Exception as exc:
        return f"child failed: {exc}"
    return "child succeeded?"


def patched(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    first = ctx.is_patched("new-greeting")
    yield ctx.call_activity(hello, input="patch")
    again = ctx.is_patched("new-greeting")  # replayed on the next turn: must still be True
    return [first, again]


def sleeper(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    yield ctx.call_activity(hello, input="before")
    yield ctx.create_timer(timedelta(hours=1))
    r = yield ctx.call_activity(hello, input="after")
    return r


def parent_of_sleepers(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    r = yield ctx.call_child_workflow(sleeper, instance_id=f"{ctx.instance_id}-kid")
    return r


WORKFLOWS = [
    chain,
    fan_out,
    monitor,
    approval,
    waits_forever,
    child,
    parent,
    retrying,
    flaky_child,
    child_retrying,
    saga,
    fails,
    parent_of_failure,
    patched,
    sleeper,
    parent_of_sleepers,
]
ACTIVITIES = [hello, square, check, flaky, always_fails, reserve, undo]


def register(rt: wf.WorkflowRuntime) -> None:
    # the SDK marks what it registers: a runtime after the first one gets plain wrappers
    for fn in WORKFLOWS:
        rt.register_workflow(
            _fresh(fn) if hasattr(fn, "_workflow_registered") else fn, name=fn.__name__
        )
    for fn in ACTIVITIES:
        fresh = _fresh(fn) if hasattr(fn, "_activity_registered") else fn
        rt.register_activity(fresh, name=fn.__name__)


def _fresh(fn: Any) -> Any:
    return functools.update_wrapper(lambda *args: fn(*args), fn, updated=())
