"""The workflow runtime core: instances, turns, activities and timers on the sidecar clock.

One turn per instance at a time. A turn takes the instance's visible inbox events, prepends
`workflowStarted(now)`, de-duplicates, and is sent to a worker with a fresh completion token.
The worker's actions are turned into a `Plan` (`turn.py`) and committed in one transaction with
the consumed inbox rows deleted; only then are activities and follow-up turns dispatched.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..store import Store
from ._pb import PENDING, event, pb, sv
from .backend import Backend, PendingActivity
from .dispatcher import Dispatcher, WorkerConn
from .group_commit import GroupCommit
from .state import InboxItem, Instance, done_key
from .turn import Plan, process_turn

log = logging.getLogger("funchost.sidecar.workflows")

# A turn unanswered this long (real seconds) on a live stream is handed out again: the SDK only
# logs a result it failed to send, and re-dispatch is safe (replay; the late answer is stale).
TURN_TIMEOUT = 300.0


@dataclass
class Turn:
    instance_id: str
    consumed: list[int]
    new_events: list[pb.HistoryEvent]
    conn: WorkerConn
    past: int  # events of committed history the turn carried (the worker caches them)
    sent_at: float = field(default_factory=time.monotonic)


class Runtime:
    """Durable workflow backend core (port of durabletask-go's backend semantics)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.backend = Backend(store)
        self.dispatcher = Dispatcher()
        self.instances: dict[str, Instance] = {}
        self.turns: dict[str, Turn] = {}
        self.activities: dict[int, PendingActivity] = {}
        self.activity_tokens: dict[str, tuple[int, WorkerConn]] = {}
        self.rid_tokens: dict[int, set[str]] = {}
        self.undispatched: deque[int] = deque()
        self.ready: dict[str, None] = {}
        self.timers: list[tuple[float, str]] = []
        self._timer_wake = asyncio.Event()
        self._finished = asyncio.Event()  # an instance finished (wakes the retention sweep)
        self._watch: dict[str, asyncio.Event] = {}
        self._pos = 0.0
        self._pump_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Configuration spec.workflow: work items outstanding on the workers at once (None = any).
        self.max_turns: int | None = None  # maxConcurrentWorkflowInvocations
        self.max_activities: int | None = None  # maxConcurrentActivityInvocations
        # worker completions arriving together share one transaction
        self.group = GroupCommit(store, lambda: len(self.turns) + len(self.activity_tokens))

    # -- lifecycle ----------------------------------------------------------------------------

    def load(self) -> None:
        """Rebuild the in-memory state from the store (after a restart or a crash)."""
        self._loop = asyncio.get_running_loop()
        self.instances = self.backend.load_instances()
        for iid, item in self.backend.load_inbox():
            inst = self.instances.get(iid)
            if inst is not None:
                inst.inbox.append(item)
                self._schedule(iid, item.visible_at)
        self._pos = self.backend.max_pos()
        for act in self.backend.load_activities():
            self.activities[act.row_id] = act
            self.undispatched.append(act.row_id)

    async def run_timers(self) -> None:
        """Make instances ready when their inbox events (timers, scheduled starts) come due."""
        while True:
            now = self.clock.time()
            while self.timers and self.timers[0][0] <= now:
                _, iid = heapq.heappop(self.timers)
                self.ready[iid] = None
            self._kick()
            self._timer_wake.clear()
            if self.timers:
                await self.clock.sleep_until(self.timers[0][0], wake=self._timer_wake)
            else:
                await self._timer_wake.wait()  # nothing scheduled: no sleeper on the clock

    async def run_watchdog(self) -> None:
        """Re-dispatch turns a live worker never answered (see TURN_TIMEOUT)."""
        while True:
            await asyncio.sleep(TURN_TIMEOUT / 10)  # real time: a transport safety net
            self.expire_turns(time.monotonic() - TURN_TIMEOUT)

    def expire_turns(self, sent_before: float) -> int:
        """Abandon the turns dispatched before `sent_before` (monotonic); they are sent again."""
        expired = [t for t, turn in self.turns.items() if turn.sent_at < sent_before]
        for token in expired:
            log.warning(
                "workflow turn %s unanswered for %.0fs: dispatching it again", token, TURN_TIMEOUT
            )
            self._abandon_turn(token)
        self._kick()
        return len(expired)

    def _abandon_turn(self, token: str) -> None:
        turn = self.turns.pop(token, None)
        if turn is None:
            return
        turn.conn.turns.discard(token)
        inst = self.instances.get(turn.instance_id)
        if inst is not None and inst.turn_token == token:
            inst.turn_token = None
            self.ready[turn.instance_id] = None

    def busy(self) -> bool:
        """Turns or activities in flight, or work ready/due for a connected worker."""
        if self.turns or self.activity_tokens or self.group:
            return True
        if self.dispatcher.workers and (self.ready or self.undispatched):
            return True
        return bool(self.timers) and self.timers[0][0] <= self.clock.time()

    # -- scheduling ---------------------------------------------------------------------------

    def _next_pos(self) -> float:
        self._pos += 1.0
        return self._pos

    def _schedule(self, iid: str, visible_at: float) -> None:
        if visible_at <= self.clock.time():
            self.ready[iid] = None
            self._kick()
        else:
            if not self.timers or visible_at < self.timers[0][0]:
                self._timer_wake.set()
            heapq.heappush(self.timers, (visible_at, iid))

    def _kick(self) -> None:
        if self._pump_scheduled or self._loop is None:
            return
        self._pump_scheduled = True
        self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        if not self.dispatcher.workers:
            return
        while self.ready:
            if self.max_turns is not None and len(self.turns) >= self.max_turns:
                break  # the next completion kicks the pump again
            iid = next(iter(self.ready))
            del self.ready[iid]
            try:
                self._try_turn(iid)
            except Exception:
                log.exception("workflow %s: starting a turn failed", iid)
        while self.undispatched:
            if self.max_activities is not None and len(self.activity_tokens) >= self.max_activities:
                break
            rid = self.undispatched.popleft()
            act = self.activities.get(rid)
            conn = self.dispatcher.pick()
            if act is None or conn is None:
                continue
            token = self.dispatcher.token("a")
            conn.activities[token] = rid
            self.activity_tokens[token] = (rid, conn)
            self.rid_tokens.setdefault(rid, set()).add(token)
            conn.queue.put_nowait(pb.WorkItem(activityRequest=act.request, completionToken=token))

    def _history(self, inst: Instance) -> list[pb.HistoryEvent]:
        if inst.history is None:
            inst.set_history(self.backend.load_history(inst.instance_id))
        assert inst.history is not None
        return inst.history

    def _try_turn(self, iid: str) -> None:
        inst = self.instances.get(iid)
        if inst is None or inst.turn_token is not None:
            return
        now = self.clock.time()
        visible = [it for it in inst.inbox if it.visible_at <= now]
        if not visible:
            return
        history = self._history(inst)
        if inst.terminal:
            self._drop(inst, visible)
            return
        events: list[InboxItem] = []
        dropped: list[InboxItem] = []
        keys: set[tuple[str, int]] = set()
        for it in visible:
            if it.execution_id and it.execution_id != inst.execution_id:
                dropped.append(it)
                continue
            key = done_key(it.event)
            if key is not None and (key in inst.done_keys or key in keys):
                dropped.append(it)
                continue
            if key is not None:
                keys.add(key)
            events.append(it)
        if ("start", 0) not in inst.done_keys and ("start", 0) not in keys:
            return  # not started yet (scheduled start): keep the events for later
        if not events:
            self._drop(inst, dropped)
            return
        events.sort(key=lambda it: 0 if it.event.HasField("executionStarted") else 1)
        conn = self.dispatcher.pick()
        if conn is None:
            self.ready[iid] = None
            return
        new_events = [event(now, workflowStarted=pb.WorkflowStartedEvent())]
        new_events.extend(it.event for it in events)
        token = self.dispatcher.token("w")
        inst.turn_token = token
        consumed = [it.row_id for it in events + dropped]
        self.turns[token] = Turn(iid, consumed, new_events, conn, len(history))
        conn.turns.add(token)
        req = pb.WorkflowRequest(
            instanceId=iid, executionId=sv(inst.execution_id), newEvents=new_events
        )
        warm = conn.warm.get(iid)
        if warm is not None and warm[0] == inst.execution_id and warm[1] <= len(history):
            # The worker holds the first warm[1] events: send only the delta.
            req.cachedHistory.eventCount = warm[1]
            req.pastEvents.extend(history[warm[1] :])
        else:
            req.pastEvents.extend(history)
        conn.queue.put_nowait(pb.WorkItem(workflowRequest=req, completionToken=token))

    def _drop(self, inst: Instance, items: list[InboxItem]) -> None:
        if not items:
            return
        ids = {it.row_id for it in items}
        with self.store.tx() as conn:
            self.backend.delete_inbox(conn, ids)
        inst.inbox = [it for it in inst.inbox if it.row_id not in ids]

    def worker_lost(self, conn: WorkerConn) -> None:
        """A worker's stream ended: re-dispatch its in-flight turns and activities."""
        self.dispatcher.disconnect(conn)
        for token in list(conn.turns):
            self._abandon_turn(token)
        for token, rid in conn.activities.items():
            self.activity_tokens.pop(token, None)
            self.rid_tokens.get(rid, set()).discard(token)
            if rid in self.activities:
                self.undispatched.append(rid)
        conn.turns.clear()
        conn.activities.clear()
        self._kick()

    def close_worker(self, conn: WorkerConn) -> None:
        """End a worker's stream from the sidecar side; its in-flight work is re-dispatched."""
        conn.queue.put_nowait(None)
        self.worker_lost(conn)

    # -- worker completions --------------------------------------------------------------------

    def complete_turn(self, res: pb.WorkflowResponse) -> None:
        """Apply a `WorkflowResponse`; responses with unknown or stale tokens are discarded.

        An empty token (durabletask-js) matches the instance's turn in flight, as in
        durabletask-go: only a wrong non-empty token is stale.
        """
        token: str | None = res.completionToken
        if not token:
            pending = self.instances.get(res.instanceId)
            token = pending.turn_token if pending is not None else None
        turn = self.turns.pop(token, None) if token else None
        if turn is None:
            log.debug("discarding workflow response with stale token %r", res.completionToken)
            return
        turn.conn.turns.discard(token)
        inst = self.instances.get(turn.instance_id)
        if inst is None or inst.turn_token != token:
            return
        inst.turn_token = None
        if turn.conn.stateful:
            ended = any(a.HasField("completeWorkflow") for a in res.actions)
            if ended:  # the worker drops its copy when an execution ends
                turn.conn.warm.pop(inst.instance_id, None)
            else:
                turn.conn.warm[inst.instance_id] = (inst.execution_id, turn.past)
        now = self.clock.time()
        plan = process_turn(inst, turn.new_events, res, now)
        self._commit(inst, turn, plan, now)

    def _commit(self, inst: Instance, turn: Turn, plan: Plan, now: float) -> None:
        iid = inst.instance_id
        consumed = set(turn.consumed)
        remaining = [it for it in inst.inbox if it.row_id not in consumed]
        added: list[tuple[str, InboxItem]] = []
        front: list[InboxItem] = []
        new_children: list[Instance] = []
        act_rows: list[PendingActivity] = []
        history = self._history(inst)
        replaced: list[Instance] = []
        with self.store.tx() as conn:
            self.backend.delete_inbox(conn, consumed)
            if plan.reset is not None:
                self.backend.clear_history(conn, iid)
                base = min((it.pos for it in remaining), default=self._next_pos())
                n = len(plan.reset)
                for i, ev in enumerate(plan.reset):
                    front.append(self.backend.add_inbox(conn, iid, base - n + i, now, None, ev))
                inst.execution_id = plan.execution_id or inst.execution_id
                inst.input = plan.input
                inst.output = None
                inst.failure = None
            else:
                self.backend.append_history(conn, iid, len(history), plan.append)
            inst.status = plan.status
            if plan.completed:
                inst.output, inst.failure, inst.completed = plan.output, plan.failure, now
            inst.custom_status = plan.custom_status
            inst.updated = now
            self.backend.update_instance(conn, inst)
            if inst.terminal and remaining:  # events for a finished execution: never consumed
                self.backend.delete_inbox(conn, [it.row_id for it in remaining])
                remaining = []
            for child in plan.children:
                old = self._lookup(child.instance_id)
                if old is not None and not old.terminal:
                    log.warning(
                        "child workflow %s already running; not restarted", child.instance_id
                    )
                    continue
                if old is not None:
                    self.backend.delete_instance(conn, child.instance_id)
                    replaced.append(old)
                started = child.started.executionStarted
                cinst = Instance(
                    instance_id=child.instance_id,
                    name=child.name,
                    execution_id=started.workflowInstance.executionId.value,
                    status=PENDING,
                    created=now,
                    updated=now,
                    input=child.input,
                    parent_id=iid,
                )
                self.backend.save_instance(conn, cinst)
                item = self.backend.add_inbox(
                    conn, cinst.instance_id, self._next_pos(), now, None, child.started
                )
                cinst.inbox.append(item)
                cinst.set_history([])
                new_children.append(cinst)
            created_ids = {c.instance_id for c in new_children}
            for msg in plan.messages:
                if msg.target not in self.instances and msg.target not in created_ids:
                    continue
                item = self.backend.add_inbox(
                    conn, msg.target, self._next_pos(), msg.visible_at, msg.execution_id, msg.event
                )
                added.append((msg.target, item))
            for req in plan.activities:
                rid = self.backend.add_activity(conn, iid, req)
                act_rows.append(PendingActivity(rid, iid, req))
        # committed: now update memory and dispatch
        inst.inbox = front + remaining
        if plan.reset is not None:
            inst.set_history([])
        else:
            for ev in plan.append:
                history.append(ev)
                inst.note(ev)
        for old in replaced:
            self._forget(old)
        for cinst in new_children:
            self.instances[cinst.instance_id] = cinst
            self._schedule(cinst.instance_id, now)
        for target, item in added:
            tinst = self.instances[target]
            tinst.inbox.append(item)
            self._schedule(target, item.visible_at)
        for act in act_rows:
            self.activities[act.row_id] = act
            self.undispatched.append(act.row_id)
        if inst.terminal:
            # Finished: memory holds running instances only (read back on demand: `_lookup`).
            inst.history = None
            self.instances.pop(iid, None)
            self._finished.set()
        if any(it.visible_at <= now for it in inst.inbox):
            self.ready[iid] = None
        self._notify(iid)
        self._kick()

    def complete_activity(self, res: pb.ActivityResponse) -> None:
        """Record an activity result (first completion wins; duplicates are discarded)."""
        entry = self.activity_tokens.pop(res.completionToken, None)
        rid: int | None = None
        if entry is not None:
            rid, worker = entry
            worker.activities.pop(res.completionToken, None)
        else:  # no token (durabletask-js) or one from before a restart: match instance + task id
            for pending in self.activities.values():
                wi = pending.request.workflowInstance
                if wi.instanceId == res.instanceId and pending.request.taskId == res.taskId:
                    rid = pending.row_id
                    break
        act = self.activities.pop(rid, None) if rid is not None else None
        if act is None:
            return
        for token in self.rid_tokens.pop(act.row_id, ()):
            entry = self.activity_tokens.pop(token, None)
            if entry is not None:
                entry[1].activities.pop(token, None)
        now = self.clock.time()
        req = act.request
        if res.HasField("failureDetails"):
            ev = event(
                now,
                taskFailed=pb.TaskFailedEvent(
                    taskScheduledId=req.taskId,
                    failureDetails=res.failureDetails,
                    taskExecutionId=req.taskExecutionId,
                ),
            )
        else:
            ev = event(
                now,
                taskCompleted=pb.TaskCompletedEvent(
                    taskScheduledId=req.taskId,
                    result=res.result if res.HasField("result") else None,
                    taskExecutionId=req.taskExecutionId,
                ),
            )
        inst = self.instances.get(act.instance_id)
        exec_id = req.workflowInstance.executionId.value or None
        with self.store.tx() as conn:
            self.backend.delete_activity(conn, act.row_id)
            item = None
            if inst is not None:
                item = self.backend.add_inbox(
                    conn, act.instance_id, self._next_pos(), now, exec_id, ev
                )
        if inst is not None and item is not None:
            inst.inbox.append(item)
            self._schedule(act.instance_id, now)
        self._kick()  # a slot is free (see max_activities)

    def _lookup(self, iid: str) -> Instance | None:
        """A running instance from memory, a finished one from the store (not cached)."""
        inst = self.instances.get(iid)
        return inst if inst is not None else self.backend.load_instance(iid)

    def _forget(self, inst: Instance) -> None:
        self.instances.pop(inst.instance_id, None)
        for rid in [r for r, a in self.activities.items() if a.instance_id == inst.instance_id]:
            del self.activities[rid]
        self._notify(inst.instance_id)

    # -- waiting -------------------------------------------------------------------------------

    def _notify(self, iid: str) -> None:
        ev = self._watch.pop(iid, None)
        if ev is not None:
            ev.set()

    async def wait_for(self, iid: str, done: Callable[[Instance | None], bool]) -> Instance | None:
        """Long-poll until `done(instance)` holds (cancelled by the caller's deadline)."""
        while True:
            inst = self._lookup(iid)
            if done(inst):
                return inst
            ev = self._watch.get(iid)
            if ev is None:
                ev = self._watch[iid] = asyncio.Event()
            await ev.wait()

    def metadata(self) -> dict[str, Any]:
        return {"workflows": {"connectedWorkers": len(self.dispatcher.workers)}}
