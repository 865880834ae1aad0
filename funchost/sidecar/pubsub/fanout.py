"""Pub/sub across apps with the embedded broker (`pubsub.in-memory`): the publisher fans out.

With Redis, apps share topics through the broker and each app id is its own consumer group.
The embedded broker has no server to share, so the publisher's sidecar plays that part:

- every registered sidecar writes the topics its app subscribes to, per component, to
  `<registry>/subscriptions/<app-id>.json`. The file outlives the process, as a Redis consumer
  group outlives its consumers: what is published while a subscriber is down waits for it;
- a publish commits, in the transaction of its own outbox row, one `pubsub_fanout` row per other
  app subscribed to the same component (name and type) and topic; a `PeerOutbox` delivers it to
  that app's sidecar, which commits it to its own outbox before answering 200, then delivers it
  to its app as if published there (not fanned out again).

So each subscribing app gets each message once per delivery cycle (its own outbox is its
consumer group), at-least-once across a kill -9 of the publisher (the row is committed before
the publish is acknowledged), of the subscriber (its copy is committed before the hop is
acknowledged) or of either app. Chosen over one shared SQLite file because every sidecar keeps
its one database (WAL, one writer) and nothing polls: a hop costs one HTTP round trip per batch.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError
from ..http_api import api
from ..peers import PeerOutbox
from ..resolution import JsonDocs
from ..store import Store
from .broker import Row

log = logging.getLogger("funchost.sidecar.pubsub")

DELIVER_PATH = "/funchost/internal/pubsub/deliver"
FANOUT_TYPES = frozenset({"pubsub.in-memory"})
SUFFIX = ".json"
FOLDER = "subscriptions"
#: a folder changed this recently (ns) is read again: file times tick coarsely (a few ms)
SETTLED_NS = 1_000_000_000


class Fanout:
    """Subscriptions of the apps on this machine, and the outbox of copies for them."""

    def __init__(
        self,
        store: Store,
        app_id: str,
        namespace: str,
        directory: Path,
        component_types: dict[str, str],
    ) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self.directory = directory / FOLDER
        self.types = component_types  # this sidecar's pub/sub components: name -> type
        self.outbox = PeerOutbox(store, "pubsub_fanout", DELIVER_PATH, app_id, namespace, directory)
        # (the outbox resolves app ids in the registry itself: `directory`)
        self.docs = JsonDocs(self.directory, SUFFIX)
        self._cached: list[dict[str, Any]] = []
        self._stamp: int | None = None  # the folder's mtime when `_cached` was read

    def start(self) -> None:
        self.outbox.load()

    async def close(self) -> None:
        await self.outbox.close()

    # -- this app's subscriptions ----------------------------------------------------------

    def publish_subscriptions(self, keys: list[tuple[str, str]]) -> None:
        """Record which topics of which shared components this app subscribes to."""
        topics: dict[str, dict[str, Any]] = {}
        for pubsub, topic in keys:
            kind = self.types.get(pubsub)
            if kind in FANOUT_TYPES:
                topics.setdefault(pubsub, {"type": kind, "topics": []})["topics"].append(topic)
        doc = {"app_id": self.app_id, "namespace": self.namespace, "pubsubs": topics}
        self.docs.write(self.app_id, doc)

    # -- publishing ------------------------------------------------------------------------

    def add(self, conn: Any, rows: list[Row]) -> list[tuple[str, int, dict[str, Any]]]:
        """Inside the publish transaction: one copy per other app subscribed to each row."""
        docs = self._subscribers()
        out = []
        for pubsub, topic, body, meta, raw in rows:
            kind = self.types.get(pubsub)
            if kind not in FANOUT_TYPES:
                continue
            for doc in docs:
                app = doc.get("app_id")
                if app == self.app_id or doc.get("namespace") != self.namespace:
                    continue
                entry = doc.get("pubsubs", {}).get(pubsub)
                if not entry or entry.get("type") != kind or topic not in entry.get("topics", ()):
                    continue
                env = {
                    "pubsub": pubsub,
                    "topic": topic,
                    "body": base64.b64encode(body).decode(),
                    "metadata": meta,
                    "raw": raw,
                }
                out.append(self.outbox.add(conn, str(app), env))
        return out

    def _subscribers(self) -> list[dict[str, Any]]:
        """Every app's subscription document, read again only when the folder changed.

        Each write is a rename into the folder (`JsonDocs.write`), so an unchanged folder mtime
        means unchanged documents once that mtime is older than the timestamp granularity.
        """
        try:
            stamp = os.stat(self.directory).st_mtime_ns
        except OSError:
            stamp = None
        if stamp is None or stamp != self._stamp or time.time_ns() - stamp < SETTLED_NS:
            self._cached = self.docs.read_all()
            self._stamp = stamp
        return self._cached

    def enqueue(self, rows: list[tuple[str, int, dict[str, Any]]]) -> None:
        if rows:
            self.outbox.enqueue(rows)

    # -- receiving -------------------------------------------------------------------------

    def routes(self, brokers: dict[str, Any]) -> list[BaseRoute]:
        @api
        async def deliver(request: Request) -> Response:
            try:
                doc = await request.json()
                items = list(doc["items"])
            except (ValueError, KeyError, TypeError) as exc:
                raise DaprApiError(
                    400, "ERR_MALFORMED_REQUEST", f"pub/sub fan-out: {exc}"
                ) from None
            by_broker: dict[int, tuple[Any, list[Row]]] = {}
            for it in items:
                broker = brokers.get(it["pubsub"])
                if broker is None or self.types.get(it["pubsub"]) not in FANOUT_TYPES:
                    continue  # this app does not load that component: not shared with it
                row: Row = (
                    it["pubsub"],
                    it["topic"],
                    base64.b64decode(it["body"]),
                    dict(it.get("metadata") or {}),
                    bool(it.get("raw")),
                )
                by_broker.setdefault(id(broker), (broker, []))[1].append(row)
            for broker, rows in by_broker.values():
                try:
                    await broker.publish(rows, local=True)  # committed before the 200
                except DaprApiError:
                    raise  # nothing committed: the sending sidecar retries
                except Exception as exc:
                    log.exception("pub/sub fan-out delivery failed")
                    raise DaprApiError(
                        500, "ERR_PUBSUB_PUBLISH_MESSAGE", f"pub/sub fan-out: {exc}"
                    ) from None
            return Response(status_code=200)

        return [Route(DELIVER_PATH, deliver, methods=["POST"])]
