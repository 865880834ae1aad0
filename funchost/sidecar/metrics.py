"""`GET /metrics` on the sidecar's HTTP API: queue depths read from the store, for Prometheus.

Pending deliveries (outbox rows per topic, dead-letter topics apart), delivery retries waiting,
actor reminders (all / due now), workflow instances per status, pending workflow work items
(activities to run, orchestration events visible now) and workflow timers waiting, and which
subsystems are busy. Everything is computed at scrape time on a registry of the sidecar's own.
`metadata_info()` adds the same figures (plus in-flight workflows and due reminders) to
`/v1.0/metadata` under `funchost`, for `funchost status`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .pubsub.subsystem import PubSubSubsystem
from .subsystem import Runtime, Subsystem

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("funchost.sidecar.metrics")

# TaskHub OrchestrationStatus values.
WORKFLOW_STATUS = {
    0: "RUNNING",
    1: "COMPLETED",
    2: "CONTINUED_AS_NEW",
    3: "FAILED",
    4: "CANCELED",
    5: "TERMINATED",
    6: "PENDING",
    7: "SUSPENDED",
    8: "STALLED",
}
_FINISHED = (1, 3, 4, 5)
_LIST_LIMIT = 50


class MetricsSubsystem(Subsystem):
    """Prometheus exposition of the sidecar's queues, and status details for the metadata API."""

    name = "metrics"

    def __init__(self, sidecar: Runtime, pubsub: PubSubSubsystem) -> None:
        super().__init__(sidecar)
        self.pubsub = pubsub
        self._registry: CollectorRegistry | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """The sidecar's own Prometheus registry, made at the first scrape (prometheus_client
        stays unloaded in a sidecar nobody scrapes)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry()
            self._registry.register(_SidecarCollector(self))
        return self._registry

    def routes(self) -> list[BaseRoute]:
        return [Route("/metrics", self.metrics_endpoint, methods=["GET"])]

    async def metrics_endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    # -- reading the store ------------------------------------------------------------------
    def _tables(self) -> set[str]:
        rows = self.sidecar.store.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0]) for r in rows}

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return list(self.sidecar.store.query(sql, params))
        except sqlite3.Error as exc:  # a subsystem changed its schema: report, keep serving
            log.warning("metrics query failed (%s): %s", exc, sql)
            return []

    def _dead_letter_topics(self) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for sub in self.pubsub.subs.values():
            sdef: Any = getattr(sub, "sdef", None)
            dlq = getattr(sdef, "dead_letter_topic", "")
            if dlq:
                out.add((str(sdef.pubsubname), str(dlq)))
        return out

    def snapshot(self) -> dict[str, Any]:
        """Current queue figures (a table that does not exist yet counts as empty)."""
        now = self.sidecar.clock.time()
        tables = self._tables()
        dlq = self._dead_letter_topics()
        snap: dict[str, Any] = {
            "pendingDeliveries": [],
            "deadLetters": [],
            "deliveryRetriesWaiting": 0,
            "reminders": 0,
            "dueReminders": 0,
            "workflows": {},
            "pendingActivities": 0,
            "pendingOrchestrationEvents": 0,
            "workflowTimersWaiting": 0,
        }
        if "pubsub_outbox" in tables:
            for r in self._rows(
                "SELECT pubsub, topic, COUNT(*) AS n FROM pubsub_outbox GROUP BY pubsub, topic"
            ):
                row = {"pubsub": r["pubsub"], "topic": r["topic"], "count": int(r["n"])}
                key = "deadLetters" if (r["pubsub"], r["topic"]) in dlq else "pendingDeliveries"
                snap[key].append(row)
        snap["deliveryRetriesWaiting"] = len(self.pubsub._retries)
        if "actor_reminders" in tables:
            for r in self._rows(
                "SELECT COUNT(*) AS n, SUM(CASE WHEN next_due <= ? THEN 1 ELSE 0 END) AS due"
                " FROM actor_reminders",
                (now,),
            ):
                snap["reminders"], snap["dueReminders"] = int(r["n"] or 0), int(r["due"] or 0)
        if "wf_instances" in tables:
            for r in self._rows("SELECT status, COUNT(*) AS n FROM wf_instances GROUP BY status"):
                status = WORKFLOW_STATUS.get(int(r["status"]), str(r["status"]))
                snap["workflows"][status] = int(r["n"])
        if "wf_activities" in tables:
            for r in self._rows("SELECT COUNT(*) AS n FROM wf_activities"):
                snap["pendingActivities"] = int(r["n"])
        if "wf_inbox" in tables:
            for r in self._rows(
                "SELECT SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END) AS ready,"
                " SUM(CASE WHEN visible_at > ? THEN 1 ELSE 0 END) AS later FROM wf_inbox",
                (now, now),
            ):
                snap["pendingOrchestrationEvents"] = int(r["ready"] or 0)
                snap["workflowTimersWaiting"] = int(r["later"] or 0)
        snap["busy"] = sorted(
            name
            for name, sub in self.sidecar.subsystems.items()
            if name != self.name and sub.busy()
        )
        return snap

    def metadata_info(self) -> dict[str, Any]:
        """`funchost` section of `/v1.0/metadata`: queue figures, in-flight workflows, reminders."""
        info = self.snapshot()
        tables = self._tables()
        info["inFlightWorkflows"] = []
        if "wf_instances" in tables:
            marks = ",".join("?" * len(_FINISHED))
            for r in self._rows(
                "SELECT instance_id, name, status, created, updated FROM wf_instances"
                f" WHERE status NOT IN ({marks}) ORDER BY created DESC LIMIT {_LIST_LIMIT}",
                _FINISHED,
            ):
                info["inFlightWorkflows"].append(
                    {
                        "instanceId": r["instance_id"],
                        "name": r["name"],
                        "status": WORKFLOW_STATUS.get(int(r["status"]), str(r["status"])),
                        "created": float(r["created"]),
                        "updated": float(r["updated"]),
                    }
                )
        info["nextReminders"] = []
        if "actor_reminders" in tables:
            for r in self._rows(
                "SELECT actor_type, actor_id, name, next_due FROM actor_reminders"
                f" ORDER BY next_due LIMIT {_LIST_LIMIT}"
            ):
                info["nextReminders"].append(
                    {
                        "actorType": r["actor_type"],
                        "actorId": r["actor_id"],
                        "name": r["name"],
                        "due": float(r["next_due"]),
                    }
                )
        info["now"] = self.sidecar.clock.time()
        return {"funchost": info}


def _per_topic(name: str, documentation: str, rows: list[dict[str, Any]]) -> GaugeMetricFamily:
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(name, documentation, labels=["pubsub", "topic"])
    for row in rows:
        family.add_metric([row["pubsub"], row["topic"]], row["count"])
    return family


class _SidecarCollector:  # a prometheus_client Collector (duck-typed: imported at first scrape)
    def __init__(self, sub: MetricsSubsystem) -> None:
        self.sub = sub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily

        snap = self.sub.snapshot()
        yield _per_topic(
            "funchost_sidecar_pending_deliveries",
            "Published messages not yet delivered (outbox rows), per topic.",
            snap["pendingDeliveries"],
        )
        yield _per_topic(
            "funchost_sidecar_dead_letters",
            "Messages waiting on a dead-letter topic, per topic.",
            snap["deadLetters"],
        )
        yield GaugeMetricFamily(
            "funchost_sidecar_delivery_retries_waiting",
            "Deliveries waiting for their retry back-off.",
            value=snap["deliveryRetriesWaiting"],
        )
        yield GaugeMetricFamily(
            "funchost_sidecar_reminders", "Actor reminders registered.", value=snap["reminders"]
        )
        yield GaugeMetricFamily(
            "funchost_sidecar_due_reminders",
            "Actor reminders due now and not yet fired.",
            value=snap["dueReminders"],
        )
        workflows = GaugeMetricFamily(
            "funchost_sidecar_workflows", "Workflow instances per status.", labels=["status"]
        )
        for status, count in sorted(snap["workflows"].items()):
            workflows.add_metric([status], count)
        yield workflows
        items = GaugeMetricFamily(
            "funchost_sidecar_pending_work_items",
            "Workflow work items waiting for the app's worker.",
            labels=["kind"],
        )
        items.add_metric(["activity"], snap["pendingActivities"])
        items.add_metric(["orchestration"], snap["pendingOrchestrationEvents"])
        yield items
        yield GaugeMetricFamily(
            "funchost_sidecar_workflow_timers_waiting",
            "Workflow timers (and delayed events) not yet due.",
            value=snap["workflowTimersWaiting"],
        )
        busy = GaugeMetricFamily(
            "funchost_sidecar_busy", "1 while a subsystem has work in flight.", labels=["subsystem"]
        )
        for name in self.sub.sidecar.subsystems:
            if name != self.sub.name:
                busy.add_metric([name], 1 if name in snap["busy"] else 0)
        yield busy
