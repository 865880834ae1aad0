"""Read-only views of the embedded sidecar's queues, plus dead-letter re-drive (for the dashboard).

Funchost-specific routes (daprd has none of these), under `/funchost/v1/` like the outbox, and
behind the same `DAPR_API_TOKEN` check as the rest of the sidecar API:

- `GET /funchost/v1/workflows?status=&q=&offset=&limit=`: one page of workflow instances,
  newest first, from indexed SQL (never the whole table); `total` counts the filtered rows;
- `GET /funchost/v1/topics`: per pub/sub topic, its subscriber (routes, dead-letter topic,
  in flight, retries waiting) and its pending deliveries with payload;
- `GET /funchost/v1/deadletters[?pubsub=&topic=]`: messages a subscriber dropped or gave up on,
  with payload and reason; `POST .../{id}/redrive` publishes one again to its topic and forgets
  it; `DELETE .../{id}` discards it;
- `GET /funchost/v1/actors`: actor types, active actors, state keys, reminders and timers.

Dead letters are recorded by pub/sub (`pubsub/dead_letters.py`) when it gives up on a message,
whether or not the subscription names a dead-letter topic (which still gets its copy).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError
from .http_api import api, json_response
from .pubsub.dead_letters import DEAD_LETTER_SCHEMA
from .store import Store
from .subsystem import Runtime, Subsystem

if TYPE_CHECKING:
    from .actors import ActorsSubsystem
    from .pubsub.subsystem import PubSubSubsystem

__all__ = ["IntrospectionSubsystem"]

PREFIX = "/funchost/v1"
PENDING_SHOWN = 20

# The instance list pages with these (wf_instances belongs to the workflows subsystem).
WORKFLOW_INDEXES = """
CREATE INDEX IF NOT EXISTS wf_instances_created ON wf_instances (created);
CREATE INDEX IF NOT EXISTS wf_instances_status_created ON wf_instances (status, created);
"""

_STATUS = {
    "RUNNING": 0,
    "COMPLETED": 1,
    "CONTINUED_AS_NEW": 2,
    "FAILED": 3,
    "CANCELED": 4,
    "TERMINATED": 5,
    "PENDING": 6,
    "SUSPENDED": 7,
    "STALLED": 8,
}
_STATUS_NAME = {v: k for k, v in _STATUS.items()}


def _payload(body: bytes) -> dict[str, Any]:
    """The message as JSON when it is (a CloudEvent), else text, else base64."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"data_base64": base64.b64encode(body).decode()}
    try:
        return {"event": json.loads(text)}
    except ValueError:
        return {"data": text}


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name, "")
    if not value:
        return default
    try:
        return max(low, min(high, int(value)))
    except ValueError:
        raise DaprApiError(
            400, "ERR_MALFORMED_REQUEST", f"query parameter {name}={value!r} must be an integer"
        ) from None


class IntrospectionSubsystem(Subsystem):
    """The `/funchost/v1/` inspection routes (workflows page, topics, dead letters, actors)."""

    name = "introspection"

    def __init__(
        self,
        sidecar: Runtime,
        pubsub: PubSubSubsystem | None = None,
        actors: ActorsSubsystem | None = None,
        workflows: Subsystem | None = None,
    ) -> None:
        super().__init__(sidecar)
        self.store: Store = sidecar.store
        self._pubsub = pubsub
        self._actors = actors
        self.store.ensure_schema("funchost_dead_letters", DEAD_LETTER_SCHEMA)
        if workflows is not None:  # its tables exist: index them for the paged list
            self.store.ensure_schema("funchost_wf_indexes", WORKFLOW_INDEXES)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/workflows", self.workflows, methods=["GET"]),
            Route(f"{PREFIX}/topics", self.topics, methods=["GET"]),
            Route(f"{PREFIX}/deadletters", self.dead_letters, methods=["GET"]),
            Route(f"{PREFIX}/deadletters/{{id:int}}/redrive", self.redrive, methods=["POST"]),
            Route(f"{PREFIX}/deadletters/{{id:int}}", self.discard, methods=["DELETE"]),
            Route(f"{PREFIX}/actors", self.actors, methods=["GET"]),
        ]

    # -- workflows ---------------------------------------------------------------------------
    @api
    async def workflows(self, request: Request) -> Response:
        limit = _int(request, "limit", 50, 1, 500)
        offset = _int(request, "offset", 0, 0, 10**9)
        where: list[str] = []
        params: list[Any] = []
        status = request.query_params.get("status", "").upper()
        if status:
            if status not in _STATUS:
                raise DaprApiError(
                    400,
                    "ERR_MALFORMED_REQUEST",
                    f"unknown workflow status {status!r}: use one of {', '.join(_STATUS)}",
                )
            where.append("status = ?")
            params.append(_STATUS[status])
        search = request.query_params.get("q", "").strip()
        if search:
            where.append("(instance_id LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')")
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        try:
            total_row = self.store.query_one(
                f"SELECT COUNT(*) AS n FROM wf_instances{clause}", params
            )
            rows = self.store.query(
                "SELECT instance_id, name, status, created, updated, completed, parent_id"
                f" FROM wf_instances{clause} ORDER BY created DESC, instance_id DESC"
                " LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        except sqlite3.OperationalError:  # no workflow has ever run on this database
            total_row, rows = None, []
        items = [
            {
                "instanceID": r["instance_id"],
                "workflowName": r["name"],
                "runtimeStatus": _STATUS_NAME.get(int(r["status"]), str(r["status"])),
                "createdAt": r["created"],
                "lastUpdatedAt": r["updated"],
                "completedAt": r["completed"],
                "parentInstanceID": r["parent_id"],
            }
            for r in rows
        ]
        total = int(total_row["n"]) if total_row is not None else 0
        return json_response({"total": total, "offset": offset, "limit": limit, "items": items})

    # -- pub/sub -----------------------------------------------------------------------------
    @api
    async def topics(self, request: Request) -> Response:
        pubsub = self._pubsub
        subs: dict[tuple[str, str], Any] = dict(getattr(pubsub, "subs", {}) or {})
        retries: dict[tuple[str, str], int] = {}
        for _, _, msg in getattr(pubsub, "_retries", ()) or ():
            key = (msg.pubsub, msg.topic)
            retries[key] = retries.get(key, 0) + 1
        topics: dict[tuple[str, str], dict[str, Any]] = {}

        def entry(key: tuple[str, str]) -> dict[str, Any]:
            if key not in topics:
                topics[key] = {
                    "pubsub": key[0],
                    "topic": key[1],
                    "subscriber": None,
                    "pending": 0,
                    "messages": [],
                    "deadLetters": 0,
                    "retriesWaiting": retries.get(key, 0),
                }
            return topics[key]

        for key, sub in subs.items():
            sdef = sub.sdef
            entry(key)["subscriber"] = {
                "routes": [{"match": m, "path": p} for m, p in sdef.rules]
                + [{"match": "", "path": sdef.default or sdef.route}],
                "deadLetterTopic": sdef.dead_letter_topic,
                "bulk": sdef.bulk_enabled,
                "stream": sub.stream is not None,
                "inFlight": sub.inflight,
                "queued": sub.queue.qsize(),
                "type": "DECLARATIVE" if sdef.source != "app" else "PROGRAMMATIC",
            }
        for r in self._rows(
            "SELECT pubsub, topic, COUNT(*) AS n FROM pubsub_outbox GROUP BY pubsub, topic"
        ):
            e = entry((r["pubsub"], r["topic"]))
            e["pending"] = int(r["n"])
            for m in self._rows(
                "SELECT id, body, metadata, created FROM pubsub_outbox"
                " WHERE pubsub = ? AND topic = ? ORDER BY id LIMIT ?",
                (r["pubsub"], r["topic"], PENDING_SHOWN),
            ):
                e["messages"].append(
                    {
                        "id": m["id"],
                        "created": m["created"],
                        "metadata": json.loads(m["metadata"]),
                        **_payload(bytes(m["body"])),
                    }
                )
        for r in self._rows(
            "SELECT pubsub, topic, COUNT(*) AS n FROM funchost_dead_letters GROUP BY pubsub, topic"
        ):
            entry((r["pubsub"], r["topic"]))["deadLetters"] = int(r["n"])
        ordered = sorted(topics.values(), key=lambda t: (t["pubsub"], t["topic"]))
        return json_response({"topics": ordered, "now": self.sidecar.clock.time()})

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.store.query(sql, params)
        except sqlite3.OperationalError:  # the table is created on first use
            return []

    @api
    async def dead_letters(self, request: Request) -> Response:
        sql = "SELECT * FROM funchost_dead_letters"
        where, params = [], []
        for name in ("pubsub", "topic"):
            value = request.query_params.get(name)
            if value:
                where.append(f"{name} = ?")
                params.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        limit = _int(request, "limit", 200, 1, 5000)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        count = self._rows(sql.replace("*", "COUNT(*) AS n", 1), tuple(params))
        return json_response(
            {
                "total": int(count[0]["n"]) if count else 0,
                "deadLetters": [self._dead_letter_json(r) for r in rows],
            }
        )

    @staticmethod
    def _dead_letter_json(r: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": r["id"],
            "pubsub": r["pubsub"],
            "topic": r["topic"],
            "deadLetterTopic": r["dead_letter_topic"],
            "reason": r["reason"],
            "created": r["created"],
            "metadata": json.loads(r["metadata"]),
            **_payload(bytes(r["body"])),
        }

    def _dead_letter_row(self, request: Request) -> sqlite3.Row:
        dl_id = int(request.path_params["id"])
        row = self.store.query_one("SELECT * FROM funchost_dead_letters WHERE id = ?", (dl_id,))
        if row is None:
            raise DaprApiError(
                404,
                "ERR_DEAD_LETTER_NOT_FOUND",
                f"no dead letter {dl_id}: it was re-driven or discarded already "
                "(list them with `funchost deadletters list`)",
            )
        return row

    @api
    async def redrive(self, request: Request) -> Response:
        row = self._dead_letter_row(request)
        pubsub = self._pubsub
        if pubsub is None:
            raise DaprApiError(500, "ERR_PUBSUB_NOT_CONFIGURED", "no pub/sub runs in this sidecar")
        # the stored body is the CloudEvent as delivered: it passes through with its id, so the
        # subscriber sees the same event again
        message_id = await pubsub.publish(
            row["pubsub"],
            row["topic"],
            bytes(row["body"]),
            "application/cloudevents+json",
            json.loads(row["metadata"]),
        )
        with self.store.tx() as conn:
            conn.execute("DELETE FROM funchost_dead_letters WHERE id = ?", (row["id"],))
        return json_response(
            {
                "redriven": row["id"],
                "pubsub": row["pubsub"],
                "topic": row["topic"],
                "outboxId": message_id,
            }
        )

    @api
    async def discard(self, request: Request) -> Response:
        row = self._dead_letter_row(request)
        with self.store.tx() as conn:
            conn.execute("DELETE FROM funchost_dead_letters WHERE id = ?", (row["id"],))
        return Response(status_code=204)

    # -- actors ------------------------------------------------------------------------------
    @api
    async def actors(self, request: Request) -> Response:
        actors = self._actors
        now = self.sidecar.clock.time()
        types: dict[str, dict[str, Any]] = {}

        def of(actor_type: str) -> dict[str, Any]:
            return types.setdefault(actor_type, {"type": actor_type, "actors": {}, "hosted": False})

        def actor(actor_type: str, actor_id: str) -> dict[str, Any]:
            entries: dict[str, Any] = of(actor_type)["actors"]
            return entries.setdefault(
                actor_id,
                {"id": actor_id, "active": False, "stateKeys": [], "reminders": [], "timers": []},
            )

        config = getattr(actors, "config", None)
        for t in getattr(config, "types", ()) or ():
            of(t)["hosted"] = True
        for (a_type, a_id), entry in dict(getattr(actors, "actors", {}) or {}).items():
            actor(a_type, a_id).update(active=True, lastUsed=entry.last_used, calls=entry.calls)
        for a_type, a_id, key in self._actor_state_keys(actors):
            actor(a_type, a_id)["stateKeys"].append(key)
        for r in self._rows(
            "SELECT actor_type, actor_id, name, due_time, period, next_due FROM actor_reminders"
            " ORDER BY next_due LIMIT 5000"
        ):
            actor(r["actor_type"], r["actor_id"])["reminders"].append(
                {
                    "name": r["name"],
                    "dueTime": r["due_time"],
                    "period": r["period"],
                    "nextDue": r["next_due"],
                }
            )
        timers = getattr(getattr(actors, "timers", None), "timers", {}) or {}
        for (a_type, a_id, name), timer in dict(timers).items():
            actor(a_type, a_id)["timers"].append({"name": name, "nextDue": timer.next_due})
        out = []
        for t in sorted(types.values(), key=lambda t: t["type"]):
            listed = sorted(t.pop("actors").values(), key=lambda a: a["id"])
            t["activeCount"] = sum(1 for a in listed if a["active"])
            out.append({**t, "actors": listed})
        return json_response({"types": out, "now": now})

    def _actor_state_keys(self, actors: Any) -> list[tuple[str, str, str]]:
        """(type, id, key) of saved actor state: from the `actorStateStore` component when it
        is SQLite (daprd's `<appId>||<type>||<id>||<key>` rows), else the fallback table."""
        state = getattr(actors, "state", None)
        backend = getattr(state, "backend", None)
        table = getattr(backend, "table", None)
        if backend is None:
            rows = self._rows(
                "SELECT actor_type, actor_id, key FROM actor_state"
                " ORDER BY actor_type, actor_id, key LIMIT 5000"
            )
            return [(r["actor_type"], r["actor_id"], r["key"]) for r in rows]
        if not isinstance(table, str) or getattr(backend, "store", None) is not self.store:
            return []  # e.g. Redis: keys are not listed
        prefix = f"{self.sidecar.config.app_id}||"
        out = []
        for r in self._rows(
            f"SELECT key FROM {table} WHERE key >= ? AND key < ? ORDER BY key LIMIT 5000",
            (prefix, prefix[:-1] + "}"),
        ):
            parts = str(r["key"]).split("||", 3)
            if len(parts) == 4:
                out.append((parts[1], parts[2], parts[3]))
        return out
