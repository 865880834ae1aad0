"""In-memory runtime state of one workflow instance (a write-through cache of its rows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._pb import TERMINAL, pb


@dataclass
class InboxItem:
    """A pending new event for an instance, visible to a turn once `visible_at` has passed."""

    row_id: int
    pos: float
    visible_at: float
    execution_id: str | None
    event: pb.HistoryEvent


@dataclass
class Instance:
    """One workflow instance: metadata, cached history and pending inbox."""

    instance_id: str
    name: str
    execution_id: str
    status: int
    created: float
    updated: float
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: bytes | None = None
    completed: float | None = None
    parent_id: str | None = None
    scheduled_start: float | None = None
    suspended: bool = False
    history: list[pb.HistoryEvent] | None = None
    inbox: list[InboxItem] = field(default_factory=list)
    done_keys: set[tuple[str, int]] = field(default_factory=set)
    children: dict[int, str] = field(default_factory=dict)
    child_apps: dict[str, str] = field(default_factory=dict)  # child id -> its (other) app
    turn_token: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def set_history(self, history: list[pb.HistoryEvent]) -> None:
        """Replace the cached history and recompute the de-duplication keys."""
        self.history = history
        self.done_keys = set()
        self.children = {}
        self.child_apps = {}
        for ev in history:
            self.note(ev)

    def note(self, ev: pb.HistoryEvent) -> None:
        """Record what a history event completes (for de-duplication) or creates."""
        key = done_key(ev)
        if key is not None:
            self.done_keys.add(key)
        if ev.HasField("childWorkflowInstanceCreated"):
            self.children[ev.eventId] = ev.childWorkflowInstanceCreated.instanceId
            if ev.HasField("router") and ev.router.targetAppID:
                self.child_apps[ev.childWorkflowInstanceCreated.instanceId] = ev.router.targetAppID

    def open_children(self) -> list[str]:
        """Child instance ids created by this execution whose completion has not arrived."""
        return [cid for tid, cid in self.children.items() if ("child", tid) not in self.done_keys]

    def failure_details(self) -> pb.TaskFailureDetails | None:
        if not self.failure:
            return None
        return pb.TaskFailureDetails.FromString(self.failure)


def done_key(ev: pb.HistoryEvent) -> tuple[str, int] | None:
    """What an incoming event completes; a second event with the same key is dropped."""
    kind = ev.WhichOneof("eventType")
    if kind == "taskCompleted":
        return ("task", ev.taskCompleted.taskScheduledId)
    if kind == "taskFailed":
        return ("task", ev.taskFailed.taskScheduledId)
    if kind == "timerFired":
        return ("timer", ev.timerFired.timerId)
    if kind == "childWorkflowInstanceCompleted":
        return ("child", ev.childWorkflowInstanceCompleted.taskScheduledId)
    if kind == "childWorkflowInstanceFailed":
        return ("child", ev.childWorkflowInstanceFailed.taskScheduledId)
    if kind == "executionStarted":
        return ("start", 0)
    return None
