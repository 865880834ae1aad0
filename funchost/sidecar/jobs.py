"""The Jobs API (Dapr scheduler, single replica): schedule/get/delete/list, persisted in SQLite.

A job has a `schedule` (cron with optional seconds, `@every 10s`, `@daily`...) and/or a `dueTime`
(RFC 3339 or a duration from creation), optional `repeats` and `ttl`. When due it fires
`POST /job/<name>` on the app with the job data as daprd sends it (the JSON of a
`google.protobuf.Value`, else the raw bytes of the `Any`), `Content-Type: application/json`.
A failed trigger is retried per the job's failure policy (default: constant 1s, 3 retries, as the
Dapr scheduler). One-shot jobs and jobs out of repeats or past their ttl are deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import grpc
from dapr.proto import api_v1
from dapr.proto.common.v1 import common_pb2
from google.protobuf import json_format, struct_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError
from .app_channel import AppUnavailable
from .app_channel.http import callback_body
from .http_api import api, json_body, json_response
from .subsystem import Runtime, Subsystem
from .timeformats import Schedule, parse_duration, parse_instant_or_delay

log = logging.getLogger("funchost.sidecar.jobs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_jobs (
    name TEXT PRIMARY KEY,
    job BLOB NOT NULL,
    next_at REAL,
    count INTEGER NOT NULL DEFAULT 0,
    expires REAL,
    created REAL NOT NULL
);
"""


def _bad(message: str) -> DaprApiError:
    return DaprApiError(400, "ERR_MALFORMED_REQUEST", message, grpc.StatusCode.INVALID_ARGUMENT)


class JobsSubsystem(Subsystem):
    """Scheduler of this app's jobs, on the sidecar clock."""

    name = "jobs"

    def __init__(self, sidecar: Runtime) -> None:
        super().__init__(sidecar)
        self.store = sidecar.store
        self.store.ensure_schema("jobs", _SCHEMA)
        self._wake = asyncio.Event()
        self._firing = 0
        self._failures: dict[str, int] = {}

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self.sidecar.spawn(self._loop())

    async def on_app_ready(self) -> None:
        self._wake.set()

    def on_app_healthy(self) -> None:
        """The app passed a health probe again: fire what came due meanwhile."""
        self._wake.set()

    async def quiesce(self) -> None:
        """Fire no more jobs (their loop ends; due jobs fire on the next start)."""
        self._wake.set()

    def busy(self) -> bool:
        if self._firing:
            return True
        if not self.sidecar.app.ready.is_set():
            return False
        row = self.store.query_one("SELECT MIN(next_at) AS due FROM job_jobs")
        return bool(row and row["due"] is not None and row["due"] <= self.sidecar.clock.time())

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self, job: Any, overwrite: bool = False) -> None:
        """Validate and persist a `dapr.proto` Job; raises DaprApiError."""
        if not job.name:
            raise _bad("job name is empty")
        if not job.schedule and not job.due_time:
            raise _bad(f"job {job.name}: give a schedule or a dueTime")
        now = self.sidecar.clock.time()
        try:
            sched = Schedule.parse(job.schedule) if job.schedule else None
            due = parse_instant_or_delay(job.due_time, now) if job.due_time else None
            expires = parse_instant_or_delay(job.ttl, now) if job.ttl else None
        except ValueError as exc:
            raise _bad(f"job {job.name}: {exc}") from None
        first = due if due is not None else sched.next_after(now, now)  # type: ignore[union-attr]
        with self.store.tx() as conn:
            exists = conn.execute("SELECT 1 FROM job_jobs WHERE name=?", (job.name,)).fetchone()
            if exists and not overwrite:
                raise DaprApiError(
                    409,
                    "ERR_JOB_ALREADY_EXISTS",
                    f"job {job.name} already exists: pass overwrite=true to replace it",
                    grpc.StatusCode.ALREADY_EXISTS,
                )
            conn.execute(
                "INSERT OR REPLACE INTO job_jobs(name, job, next_at, count, expires, created)"
                " VALUES (?,?,?,0,?,?)",
                (job.name, job.SerializeToString(), first, expires, now),
            )
        self._failures.pop(job.name, None)
        self._wake.set()

    def get(self, name: str) -> Any:
        row = self.store.query_one("SELECT job FROM job_jobs WHERE name=?", (name,))
        if row is None:
            raise DaprApiError(
                404, "ERR_JOB_NOT_FOUND", f"job {name} not found", grpc.StatusCode.NOT_FOUND
            )
        job = api_v1.Job()
        job.ParseFromString(bytes(row["job"]))
        return job

    def delete(self, name: str) -> None:
        with self.store.tx() as conn:
            conn.execute("DELETE FROM job_jobs WHERE name=?", (name,))
        self._wake.set()

    def all(self) -> list[Any]:
        jobs = []
        for row in self.store.query("SELECT job FROM job_jobs ORDER BY name"):
            job = api_v1.Job()
            job.ParseFromString(bytes(row["job"]))
            jobs.append(job)
        return jobs

    # -- firing ----------------------------------------------------------------------------------
    async def _loop(self) -> None:
        clock = self.sidecar.clock
        while not self.sidecar.quiesced:
            self._wake.clear()
            deadline = clock.time() + 3600
            if self.sidecar.app.ready.is_set():
                now = clock.time()
                for row in self.store.query(
                    "SELECT name, next_at FROM job_jobs WHERE next_at <= ? ORDER BY next_at",
                    (now,),
                ):
                    self._firing += 1
                    try:
                        await self._fire(row["name"])
                    except Exception:
                        log.exception("job %s: trigger failed", row["name"])
                    finally:
                        self._firing -= 1
                first = self.store.query_one("SELECT MIN(next_at) AS due FROM job_jobs")
                if first and first["due"] is not None:
                    deadline = float(first["due"])
            await clock.sleep_until(deadline, wake=self._wake)

    async def _fire(self, name: str) -> None:
        row = self.store.query_one("SELECT * FROM job_jobs WHERE name=?", (name,))
        if row is None:
            return
        job = api_v1.Job()
        job.ParseFromString(bytes(row["job"]))
        now = self.sidecar.clock.time()
        if row["expires"] is not None and row["expires"] <= now:
            self.delete(name)
            return
        ok = True
        try:
            resp = await self.sidecar.app.deliver_job(name, job.data)
            ok = 200 <= resp.status < 300 or resp.status == 404  # 404: not retriable (daprd)
            if not 200 <= resp.status < 300:
                log.warning("job %s: app answered %s", name, resp.status)
        except AppUnavailable as exc:
            ok = False
            log.warning("job %s: %s", name, exc)
        if not ok and self._retry(job, name):
            return
        self._failures.pop(name, None)
        count = int(row["count"]) + 1
        next_at: float | None = None
        if job.schedule and (not job.HasField("repeats") or count < job.repeats):
            sched = Schedule.parse(job.schedule)
            last = float(row["next_at"])
            if sched.every is not None and job.due_time:
                next_at = last + sched.every  # @every after a dueTime counts from the first fire
                while next_at <= now:
                    next_at += sched.every
            else:
                next_at = sched.next_after(max(now, last), float(row["created"]))
        elif not job.schedule and job.HasField("repeats") and count < job.repeats:
            next_at = now  # a one-shot with repeats and no schedule fires again at once
        if next_at is not None and row["expires"] is not None and next_at > row["expires"]:
            next_at = None
        with self.store.tx() as conn:
            if next_at is None:
                conn.execute("DELETE FROM job_jobs WHERE name=?", (name,))
            else:
                conn.execute(
                    "UPDATE job_jobs SET next_at=?, count=? WHERE name=?", (next_at, count, name)
                )

    def _retry(self, job: Any, name: str) -> bool:
        """Schedule a retry per the failure policy; False when the trigger is given up."""
        interval, max_retries = 1.0, 3
        if job.HasField("failure_policy"):
            policy = job.failure_policy
            if policy.HasField("drop"):
                return False
            if policy.HasField("constant"):
                interval = policy.constant.interval.ToTimedelta().total_seconds() or 1.0
                max_retries = (
                    policy.constant.max_retries if policy.constant.HasField("max_retries") else -1
                )
        done = self._failures.get(name, 0)
        if max_retries >= 0 and done >= max_retries:
            self._failures.pop(name, None)
            log.error("job %s: trigger failed after %s retries; skipped", name, done)
            return False
        self._failures[name] = done + 1
        with self.store.tx() as conn:
            conn.execute(
                "UPDATE job_jobs SET next_at=? WHERE name=?",
                (self.sidecar.clock.time() + interval, name),
            )
        return True

    def delete_by_prefix(self, prefix: str) -> None:
        """Delete every job whose name starts with `prefix`."""
        with self.store.tx() as conn:
            conn.execute("DELETE FROM job_jobs WHERE substr(name, 1, ?) = ?", (len(prefix), prefix))

    # -- HTTP ------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for prefix in ("/v1.0-alpha1/jobs", "/v1.0/jobs"):
            routes += [
                Route(prefix + "/{name}", self._http_schedule, methods=["POST"]),
                Route(prefix + "/{name}", self._http_get, methods=["GET"]),
                Route(prefix + "/{name}", self._http_delete, methods=["DELETE"]),
            ]
        return routes

    @api
    async def _http_schedule(self, request: Request) -> Response:
        body = await json_body(request) or {}
        if not isinstance(body, dict):
            raise _bad("job body must be a JSON object")
        job = api_v1.Job(name=request.path_params["name"])
        for key, attr in (("schedule", "schedule"), ("dueTime", "due_time"), ("ttl", "ttl")):
            if body.get(key):
                setattr(job, attr, str(body[key]))
        if body.get("repeats") is not None:
            job.repeats = int(body["repeats"])
        if "data" in body:
            value = json_format.ParseDict(body["data"], struct_pb2.Value())
            job.data.Pack(value)
        policy = body.get("failurePolicy") or {}
        if "drop" in policy:
            job.failure_policy.drop.CopyFrom(common_pb2.JobFailurePolicyDrop())
        elif "constant" in policy:
            const = policy["constant"] or {}
            if const.get("interval"):
                job.failure_policy.constant.interval.FromSeconds(
                    int(parse_duration(str(const["interval"])))
                )
            if const.get("maxRetries") is not None:
                job.failure_policy.constant.max_retries = int(const["maxRetries"])
        self.schedule(job, bool(body.get("overwrite")))
        return Response(status_code=204)

    @api
    async def _http_get(self, request: Request) -> Response:
        job = self.get(request.path_params["name"])
        doc: dict[str, Any] = {"name": job.name}
        for attr, key in (("schedule", "schedule"), ("due_time", "dueTime"), ("ttl", "ttl")):
            if getattr(job, attr):
                doc[key] = getattr(job, attr)
        if job.HasField("repeats"):
            doc["repeats"] = job.repeats
        if job.HasField("data") and job.data.value:
            doc["data"] = json.loads(callback_body(job.data) or b"null")
        return json_response(doc)

    @api
    async def _http_delete(self, request: Request) -> Response:
        self.delete(request.path_params["name"])
        return Response(status_code=204)
