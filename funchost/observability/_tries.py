"""Which try of its workflow's retry policy an activity call is, for its log line.

The Dapr SDK retries an activity from the orchestrator (`RetryableTask`: the policy and the
attempt count live there; the activity request carries only the task execution id, the same
for every try). When this process runs the workflow, `remember()` keeps its latest tasks by
``(instance id, task execution id)``, and `tries()` answers ``(this try, max tries)`` for an
activity call; None when unknown: the call has no retry policy (the SDK's plain task carries no
execution id) or the workflow runs in another process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["remember", "tries"]

_LIMIT = 4096
_tasks: OrderedDict[tuple[str, str], Any] = OrderedDict()
_lock = threading.Lock()


def remember(instance_id: str | None, item: Any) -> None:
    """Keep the activity tasks of what an orchestrator yielded (a task or a when_all/any)."""
    if not instance_id:
        return
    for task in (item, *(getattr(item, "_tasks", None) or ())):
        execution_id = getattr(task, "_task_execution_id", None)
        if not execution_id or getattr(task, "_is_sub_orch", False):
            continue
        with _lock:
            _tasks[(instance_id, execution_id)] = task
            _tasks.move_to_end((instance_id, execution_id))
            while len(_tasks) > _LIMIT:
                _tasks.popitem(last=False)


def tries(ctx: Any) -> tuple[int, int] | None:
    """``(this try, max tries)`` of the activity call of `ctx` (a WorkflowActivityContext)."""
    inner = ctx.get_inner_context() if hasattr(ctx, "get_inner_context") else ctx
    key = (getattr(ctx, "workflow_id", None), getattr(inner, "_task_execution_id", None))
    with _lock:
        task = _tasks.get(key)  # type: ignore[arg-type]
    if task is None:
        return None
    policy = getattr(task, "_retry_policy", None)
    if policy is None:
        return None
    return (int(task._attempt_count), int(policy.max_number_of_attempts))
