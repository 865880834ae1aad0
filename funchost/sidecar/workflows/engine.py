"""The workflow engine: client operations (start, query, raise, suspend, terminate, purge).

`Engine` adds what `TaskHubSidecarService` clients and the HTTP management API call to the
`Runtime` core; every operation commits before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from ._pb import PENDING, RUNNING, SUSPENDED, TERMINATED, event, new_trace_context, pb, sv, ts
from ._runtime import Runtime
from .backend import PendingActivity
from .remote import envelope, payload_of
from .retention import RetentionPolicy
from .state import InboxItem, Instance

log = logging.getLogger("funchost.sidecar.workflows")


class WorkflowError(Exception):
    """A client operation that cannot be done; `code` is a gRPC-like status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Engine(Runtime):
    """Durable workflow backend: the runtime core plus client operations."""

    def _get(self, iid: str) -> Instance:
        inst = self._lookup(iid)
        if inst is None:
            raise WorkflowError("not_found", f"no such instance exists: '{iid}'")
        return inst

    def _post(self, inst: Instance, ev: pb.HistoryEvent, update: bool = False) -> None:
        now = self.clock.time()
        inst.updated = now
        with self.store.tx() as conn:
            if update:
                self.backend.update_instance(conn, inst)
            item = self.backend.add_inbox(conn, inst.instance_id, self._next_pos(), now, None, ev)
        inst.inbox.append(item)
        self._schedule(inst.instance_id, now)
        self._notify(inst.instance_id)

    def start(
        self,
        name: str,
        iid: str,
        input: str | None,
        start_at: float | None = None,
        trace: pb.TraceContext | None = None,
    ) -> str:
        """Create an instance; a non-terminal instance with the same id is an error.

        `trace` (the caller's trace context, else a new trace) goes into
        `executionStarted.parentTraceContext`; every activity of the instance carries it on,
        so the whole instance is one trace, as with daprd."""
        if not name:
            raise WorkflowError("invalid", "a workflow name is required to start an instance")
        iid = iid or uuid.uuid4().hex
        old = self._lookup(iid)
        if old is not None and not old.terminal:
            raise WorkflowError(
                "already_exists", f"an active workflow with ID '{iid}' already exists"
            )
        now = self.clock.time()
        exec_id = uuid.uuid4().hex
        started = pb.ExecutionStartedEvent(
            name=name,
            input=sv(input) if input is not None else None,
            workflowInstance=pb.WorkflowInstance(instanceId=iid, executionId=sv(exec_id)),
        )
        if start_at is not None:
            started.scheduledStartTimestamp.CopyFrom(ts(start_at))
        started.parentTraceContext.CopyFrom(trace or new_trace_context())
        inst = Instance(
            iid, name, exec_id, PENDING, now, now, input=input, scheduled_start=start_at
        )
        visible = max(now, start_at or now)
        with self.store.tx() as conn:
            if old is not None:
                self.backend.delete_instance(conn, iid)
            self.backend.save_instance(conn, inst)
            item = self.backend.add_inbox(
                conn, iid, self._next_pos(), visible, None, event(now, executionStarted=started)
            )
        if old is not None:
            self._forget(old)
        inst.set_history([])
        inst.inbox.append(item)
        self.instances[iid] = inst
        self._schedule(iid, visible)
        self._notify(iid)
        return iid

    def get(self, iid: str) -> Instance | None:
        return self._lookup(iid)

    def raise_event(self, iid: str, name: str, data: str | None) -> None:
        inst = self._get(iid)
        if inst.terminal:
            return
        ev = event(
            self.clock.time(),
            eventRaised=pb.EventRaisedEvent(
                name=name, input=sv(data) if data is not None else None
            ),
        )
        self._post(inst, ev)

    def terminate(self, iid: str, output: str | None, recursive: bool) -> None:
        inst = self._get(iid)
        if inst.terminal:
            return
        now = self.clock.time()
        self._history(inst)
        started = ("start", 0) in inst.done_keys
        if not started and inst.turn_token is None:
            # Never ran: terminate directly.
            with self.store.tx() as conn:
                self.backend.delete_inbox(conn, [it.row_id for it in inst.inbox])
                inst.status, inst.output, inst.completed, inst.updated = (
                    TERMINATED,
                    output,
                    now,
                    now,
                )
                self.backend.update_instance(conn, inst)
            inst.inbox = []
            self.instances.pop(iid, None)
            self._finished.set()
            self._notify(iid)
            return
        ev = event(
            now,
            executionTerminated=pb.ExecutionTerminatedEvent(
                input=sv(output) if output is not None else None, recurse=recursive
            ),
        )
        self._post(inst, ev)

    def suspend(self, iid: str, reason: str | None) -> None:
        inst = self._get(iid)
        if inst.terminal or inst.suspended:
            return
        inst.suspended = True
        inst.status = SUSPENDED
        reason_v = sv(reason) if reason is not None else None
        self._post(
            inst,
            event(self.clock.time(), executionSuspended=pb.ExecutionSuspendedEvent(input=reason_v)),
            update=True,
        )

    def resume(self, iid: str, reason: str | None) -> None:
        inst = self._get(iid)
        if inst.terminal or not inst.suspended:
            return
        inst.suspended = False
        self._history(inst)
        inst.status = RUNNING if ("start", 0) in inst.done_keys else PENDING
        reason_v = sv(reason) if reason is not None else None
        self._post(
            inst,
            event(self.clock.time(), executionResumed=pb.ExecutionResumedEvent(input=reason_v)),
            update=True,
        )

    def purge(self, iid: str, recursive: bool, strict: bool = True) -> int:
        """Delete a completed/failed/terminated instance (and its children when recursive)."""
        inst = self._lookup(iid)
        if inst is None:
            if strict:
                raise WorkflowError("not_found", f"no such instance exists: '{iid}'")
            return 0
        if not inst.terminal:
            if strict:
                raise WorkflowError(
                    "failed_precondition",
                    f"workflow '{iid}' is {_status(inst.status)}: only completed, "
                    "failed or terminated instances can be purged",
                )
            return 0
        self._history(inst)
        children = list(inst.children.values()) if recursive else []
        remote = []
        with self.store.tx() as conn:
            self.backend.delete_instance(conn, iid)
            for cid in children:
                app = inst.child_apps.get(cid)
                if app:  # the child lives in another app's sidecar: purge it there
                    remote.append(self.outbox.add(conn, app, envelope("purge", cid, b"")))
        self.outbox.enqueue(remote)
        self._forget(inst)
        count = 1
        for cid in children:
            if cid not in inst.child_apps:
                count += self.purge(cid, True, strict=False)
        return count

    def waiting_note(self, iid: str) -> str | None:
        """Why the instance waits on another app that is not reachable, if it does."""
        return self.outbox.waiting_note(iid)

    def accept_remote(self, source: str, items: list[dict[str, Any]]) -> None:
        """Commit what another app's sidecar sent (see `remote.py`); redeliveries are no-ops."""
        now = self.clock.time()
        acts: list[PendingActivity] = []
        added: list[tuple[str, InboxItem]] = []
        created: dict[str, Instance] = {}
        replaced: list[Instance] = []
        purges: list[str] = []
        with self.store.tx() as conn:
            for env in items:
                kind, iid = env["kind"], env["instance"]
                data = payload_of(env)
                if kind == "activity":
                    req = pb.ActivityRequest.FromString(data)
                    key = f"act|{source}|{iid}|{env.get('execution') or ''}|{req.taskId}"
                    if not _first(conn, key):
                        continue
                    rid = self.backend.add_activity(conn, iid, req)
                    conn.execute(
                        "INSERT INTO wf_activity_origin (activity_id, source_app) VALUES (?,?)",
                        (rid, source),
                    )
                    acts.append(PendingActivity(rid, iid, req, source))
                elif kind == "event":
                    if iid not in self.instances and iid not in created:
                        continue  # daprd: "Ignoring complete task which no longer exists"
                    ev = pb.HistoryEvent.FromString(data)
                    item = self.backend.add_inbox(
                        conn, iid, self._next_pos(), now, env.get("execution"), ev
                    )
                    added.append((iid, item))
                elif kind == "start":
                    ev = pb.HistoryEvent.FromString(data)
                    started = ev.executionStarted
                    exec_id = started.workflowInstance.executionId.value
                    if not _first(conn, f"start|{source}|{iid}|{exec_id}"):
                        continue
                    old = self._lookup(iid)  # a finished one is read from the store
                    if old is not None and not old.terminal:
                        continue
                    if old is not None:
                        self.backend.delete_instance(conn, iid)
                        replaced.append(old)
                    parent = started.parentInstance.workflowInstance.instanceId or None
                    cinst = Instance(
                        iid,
                        started.name,
                        exec_id,
                        PENDING,
                        now,
                        now,
                        input=started.input.value if started.HasField("input") else None,
                        parent_id=parent,
                    )
                    self.backend.save_instance(conn, cinst)
                    cinst.set_history([])
                    item = self.backend.add_inbox(conn, iid, self._next_pos(), now, None, ev)
                    cinst.inbox.append(item)
                    created[iid] = cinst
                elif kind == "purge":
                    purges.append(iid)
        for old in replaced:
            self._forget(old)
        for iid, cinst in created.items():
            self.instances[iid] = cinst
            self._schedule(iid, now)
            self._notify(iid)
        for iid, item in added:
            self.instances[iid].inbox.append(item)
            self._schedule(iid, now)
        for act in acts:
            self.activities[act.row_id] = act
            self.undispatched.append(act.row_id)
        for iid in purges:
            self.purge(iid, True, strict=False)
        self._kick()

    def purge_where(
        self,
        created_from: float | None,
        created_to: float | None,
        statuses: set[int],
        recursive: bool,
    ) -> int:
        count = 0
        for iid in self.backend.finished_ids(created_from, created_to, statuses):
            count += self.purge(iid, recursive, strict=False)
        return count

    def purge_expired(self, policy: RetentionPolicy, limit: int = 100) -> int:
        """Purge up to `limit` finished instances past their retention, in one transaction."""
        if not policy.enabled:
            return 0
        ids = self.backend.expired_ids(self.clock.time(), dict(policy.ttl), limit)
        if not ids:
            return 0
        with self.store.tx() as conn:
            for iid in ids:
                self.backend.delete_instance(conn, iid)
        for iid in ids:
            inst = self.instances.pop(iid, None)
            if inst is not None:
                self._forget(inst)
            self._notify(iid)
        return len(ids)

    async def purge_all_expired(self, policy: RetentionPolicy, limit: int = 100) -> int:
        """Purge every expired instance, `limit` per transaction, yielding the loop between
        them: a sweep of thousands must not stall the calls the sidecar serves meanwhile."""
        total = 0
        while n := self.purge_expired(policy, limit):
            total += n
            await asyncio.sleep(0)
        return total

    async def run_retention(self, policy: RetentionPolicy) -> None:
        """Purge expired instances when the next one is due (sidecar clock), durably."""
        while policy.enabled:
            due: float | None = self.clock.time() + 60.0
            try:
                n = await self.purge_all_expired(policy)
                if n:
                    log.info("workflow retention: purged %d finished instances", n)
                due = self.backend.next_expiry(dict(policy.ttl))
            except Exception:
                log.exception("workflow retention sweep failed; retrying in a minute")
            shortest = min(policy.ttl.values())
            if due is None:  # nothing finished: wait for the next instance to finish
                self._finished.clear()
                await self._finished.wait()
                due = self.clock.time() + shortest
            # An instance finishing now expires `shortest` from now at the earliest; sweeps
            # are at least a second apart, so "0s" purges in batches, not one by one.
            now = self.clock.time()
            await self.clock.sleep_until(max(now + 1.0, min(due, now + max(1.0, shortest))))

    def list_ids(self, page_size: int | None, token: str | None) -> tuple[list[str], str | None]:
        after = int(token) if token and token.isdigit() else 0
        limit = page_size or 1_000_000
        rows = self.backend.list_ids(after, limit)
        next_token = str(rows[-1][0]) if page_size and len(rows) == page_size else None
        return [iid for _, iid in rows], next_token

    def create_forked(
        self,
        inst: Instance,
        history: list[pb.HistoryEvent],
        activities: list[pb.ActivityRequest],
        inbox: list[pb.HistoryEvent],
        children: list[tuple[int, str, str, str | None]],
        trace: pb.TraceContext | None,
    ) -> None:
        """Create `inst` with `history` (a rerun) in one transaction, with the activities to
        dispatch, the events for its inbox and the children `(task id, id, name, input)`."""
        now = self.clock.time()
        iid = inst.instance_id
        starts: list[Instance] = []
        pending: list[PendingActivity] = []
        items: list[tuple[str, InboxItem]] = []
        with self.store.tx() as conn:
            self.backend.save_instance(conn, inst)
            self.backend.append_history(conn, iid, 0, history)
            for req in activities:
                pending.append(PendingActivity(self.backend.add_activity(conn, iid, req), iid, req))
            for ev in inbox:
                items.append(
                    (iid, self.backend.add_inbox(conn, iid, self._next_pos(), now, None, ev))
                )
            for task_id, child_id, name, child_input in children:
                if self._lookup(child_id) is not None:
                    raise WorkflowError(
                        "already_exists", f"workflow '{child_id}' has already been created"
                    )
                exec_id = uuid.uuid4().hex
                started = pb.ExecutionStartedEvent(
                    name=name,
                    input=sv(child_input) if child_input is not None else None,
                    workflowInstance=pb.WorkflowInstance(
                        instanceId=child_id, executionId=sv(exec_id)
                    ),
                    parentInstance=pb.ParentInstanceInfo(
                        taskScheduledId=task_id,
                        name=sv(inst.name),
                        workflowInstance=pb.WorkflowInstance(
                            instanceId=iid, executionId=sv(inst.execution_id)
                        ),
                    ),
                    parentTraceContext=trace,
                )
                child = Instance(
                    child_id, name, exec_id, PENDING, now, now, input=child_input, parent_id=iid
                )
                self.backend.save_instance(conn, child)
                ev = event(now, executionStarted=started)
                items.append(
                    (
                        child_id,
                        self.backend.add_inbox(conn, child_id, self._next_pos(), now, None, ev),
                    )
                )
                starts.append(child)
        inst.set_history(list(history))
        self.instances[iid] = inst
        for child in [*starts]:
            child.set_history([])
            self.instances[child.instance_id] = child
        for target, item in items:
            self.instances[target].inbox.append(item)
            self._schedule(target, now)
        for act in pending:
            self.activities[act.row_id] = act
            self.undispatched.append(act.row_id)
        self._notify(iid)
        self._kick()

    def history(self, iid: str) -> list[pb.HistoryEvent]:
        inst = self._get(iid)
        return list(self._history(inst))


def _first(conn: Any, key: str) -> bool:
    """Record a cross-app message key; False when it was seen before (a redelivery)."""
    cur = conn.execute("INSERT OR IGNORE INTO wf_remote_seen (key) VALUES (?)", (key,))
    return bool(cur.rowcount)


def _status(code: int) -> str:
    from ._pb import STATUS_NAMES

    return STATUS_NAMES.get(code, str(code))
