"""notification-service: the task agent's second app (its app id is this folder's name).

The agent reaches it by app id, as it would on Kubernetes:

- service invocation: `POST notify` (the agent's `POST /tasks/{id}/complete` calls it) and
  `GET notifications` (the latest 50, newest first), as the source documents call them:
  `invoke_method(app_id="notification-service", method_name="notify", ...)`;
- a cross-app workflow activity: `notify_owner`, scheduled by the agent's `task_processing`
  workflow with `ctx.call_activity("notify_owner", input=..., app_id="notification-service")`.

Notifications are printed (standing in for e-mail or chat) and kept in this app's state; Dapr
prefixes state keys with the app id, so they never mix with the agent's.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from dapr.aio.clients import DaprClient
from dapr.clients.grpc._state import Concurrency, StateOptions
from dapr.ext.workflow import WorkflowActivityContext
from pydantic import BaseModel

from funchost import activity, invoke

STATE_STORE = "statestore"
KEY = "notifications"
KEEP = 50
log = logging.getLogger("notification-service")


class Notice(BaseModel):
    """What to tell whom."""

    message: str
    task_id: str = ""
    user_id: str = ""
    event: str = "notice"


class Sent(BaseModel):
    """A notification as recorded: the notice, its id and when it was sent."""

    id: str
    sent_at: str
    via: str
    notice: Notice


async def record(notice: Notice, via: str) -> Sent:
    """Send (print) `notice` and prepend it to the kept list (optimistic concurrency)."""
    sent = Sent(id=uuid.uuid4().hex, sent_at=datetime.now(UTC).isoformat(), via=via, notice=notice)
    log.info("notify %s: %s", notice.user_id or notice.task_id or "-", notice.message)
    async with DaprClient() as client:
        for attempt in range(10):
            current = await client.get_state(STATE_STORE, KEY)
            kept = json.loads(current.data) if current.data else []
            try:
                await client.save_state(
                    STATE_STORE,
                    KEY,
                    json.dumps([sent.model_dump(), *kept][:KEEP]),
                    etag=current.etag or None,
                    options=StateOptions(concurrency=Concurrency.first_write),
                )
                return sent
            except Exception:  # a concurrent writer changed the list: read it again
                if attempt == 9:
                    raise
    return sent


@invoke("notify", methods=("POST",))
async def notify(notice: Notice) -> Sent:
    """Service invocation: send one notification now."""
    return await record(notice, via="invoke")


@invoke("notifications", methods=("GET",))
async def notifications() -> list[dict[str, Any]]:
    """The latest notifications, newest first."""
    async with DaprClient() as client:
        current = await client.get_state(STATE_STORE, KEY)
    return list(json.loads(current.data)) if current.data else []


@activity
async def notify_owner(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Cross-app activity: tell a task's owner what happened (`payload` carries `message` and
    optionally `task_id`, `user_id`, `event`); returns the recorded notification."""
    notice = Notice.model_validate(payload)
    sent = await record(notice, via=f"workflow {ctx.workflow_id}")
    return sent.model_dump()
