"""`fulfil` runs `ship` as a child workflow; `pack` fails on its first attempt and is retried,
so an instance's timeline has a retry and nested bars."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

from dapr.ext.workflow import DaprWorkflowContext, RetryPolicy, WorkflowActivityContext

from funchost import activity, workflow

ATTEMPTS: dict[str, int] = {}
RETRY = RetryPolicy(first_retry_interval=timedelta(milliseconds=200), max_number_of_attempts=3)


@activity
def pack(ctx: WorkflowActivityContext, order_id: str) -> str:
    """Fail the first time for each order, then pack it."""
    ATTEMPTS[order_id] = ATTEMPTS.get(order_id, 0) + 1
    if ATTEMPTS[order_id] == 1:
        raise RuntimeError(f"no box for {order_id} yet")
    return f"packed {order_id}"


@workflow
def ship(ctx: DaprWorkflowContext, order_id: str) -> Generator[Any, Any, str]:
    """Pack the order (retried) and return the label."""
    packed = yield ctx.call_activity(pack, input=order_id, retry_policy=RETRY)
    return f"{packed}, shipped"


@workflow
def fulfil(ctx: DaprWorkflowContext, order_id: str) -> Generator[Any, Any, str]:
    """Ship the order as a child workflow."""
    child = f"{ctx.instance_id}-ship"
    result: str = yield ctx.call_child_workflow(ship, input=order_id, instance_id=child)
    return result
