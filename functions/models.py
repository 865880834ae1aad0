"""The task agent's data: what the API accepts, what the actors store, what the events carry.

Everything crossing a boundary (HTTP body, actor call, workflow input, event) is one of these
pydantic models, so it is validated on the way in and rendered as plain JSON on the way out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PUBSUB = "pubsub"
NOTIFICATIONS = "notifications"
TASK_EVENTS = "task-events"
CONVERSATION_EVENTS = "conversation-events"
TASK_SUMMARIES = "task-summaries"
DEAD_LETTERS = "dead-letters"


def workflow_id_for(task_id: str) -> str:
    """The instance id of the workflow that processes `task_id` (one workflow per task)."""
    return f"task-workflow-{task_id}"


class TaskStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    DONE = "done"
    OVERDUE = "overdue"


class TaskRequest(BaseModel):
    """`POST /tasks/process` body and the workflow's input."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    description: str = ""
    assignee: str = Field(min_length=1)
    deadline_seconds: int = Field(default=3600, gt=0)
    notify_delay_seconds: int = Field(default=0, ge=0)  # wait (durably) before notifying
    # who asked for the task: told of the outcome by the notification-service app (a cross-app
    # workflow activity; the workflow waits for that app, as under daprd)
    owner: str = ""


class NewTask(BaseModel):
    """What `TaskActor.CreateTask` needs."""

    title: str
    description: str = ""


class Assignment(BaseModel):
    """What `TaskActor.AssignTask` needs."""

    assignee: str


class Task(BaseModel):
    """A task as `TaskActor` stores it."""

    task_id: str
    title: str
    description: str = ""
    status: TaskStatus = TaskStatus.PENDING
    assignee: str | None = None
    deadline: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Validation(BaseModel):
    """What `validate_task` found."""

    is_valid: bool
    issues: list[str] = []


class Notification(BaseModel):
    """One message to an assignee, sent through the `notifications` output binding."""

    task_id: str
    assignee: str
    title: str
    deadline: datetime | None = None


class ProcessingResult(BaseModel):
    """The workflow's output: `completed`, `rejected` (with issues) or `failed` (with a cause)."""

    task_id: str
    status: str
    message: str
    issues: list[str] = []


class TaskEvent(BaseModel):
    """Published on `task-events` at every stage of a task's life."""

    type: str  # task.validated, task.created, task.assigned, task.completed, ...
    task_id: str
    workflow_id: str | None = None
    detail: dict[str, Any] = {}


class ChatMessage(BaseModel):
    """`POST /chat/{user}` body."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=4000)


class ChatEntry(BaseModel):
    """One line of a conversation."""

    role: str  # "user" | "assistant"
    content: str
    timestamp: datetime
    exchange: int = 0  # which exchange of the conversation (1 = the first; 0 = not recorded)


class Conversation(BaseModel):
    """A user's recent exchanges, oldest first, as `ChatActor` stores them."""

    messages: list[ChatEntry] = []


class ConversationEvent(BaseModel):
    """Published on `conversation-events` for every exchange."""

    event_type: str = "conversation.updated"
    user_id: str
    user_message: ChatEntry
    assistant_message: ChatEntry
    history_size: int


class DailySummary(BaseModel):
    """Published on `task-summaries` by the daily sweep."""

    counts: dict[str, int]  # tasks per status
    overdue: list[str]  # ids of the overdue tasks
