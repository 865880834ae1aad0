"""Pub/sub: durable publish through the component's broker, and delivery to the app.

Flow: publish -> envelope -> the broker stores it (outbox.py: a committed row; redis.py: XADD)
-> ack -> the subscription's queue -> one of its `CONCURRENCY` workers POSTs the CloudEvent ->
SUCCESS settles it with the broker, RETRY waits per the Resiliency policy on the sidecar clock,
DROP / exhausted retries move it to the dead-letter topic or drop it. Messages still stored at
start are delivered once the app's subscriptions are known: at-least-once across crashes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from pathlib import Path
from typing import Any

import grpc
from starlette.routing import BaseRoute

from .._errors import DaprApiError, not_found
from ..app_channel import AppUnavailable
from ..cloudevents import MalformedCloudEvent, cloud_event_creation_error, dumps, envelope
from ..component import SubscriptionDef
from ..components import ResourcesSubsystem
from ..resolution import DEFAULT_NAMESPACE, registry_dir
from ..routing import RuleError
from ..subsystem import Runtime, Subsystem
from ..timeformats import format_rfc3339
from .broker import Broker, BrokerContext, Row
from .dead_letters import record_dead_letter
from .delivery import (
    ActiveSubscription,
    Message,
    Outcome,
    bulk_envelope,
    classify,
    classify_bulk,
)
from .fanout import Fanout
from .http_api import parse_subscribe, pubsub_routes
from .registry import BROKERS

log = logging.getLogger("funchost.sidecar.pubsub")

#: Deliveries in flight per subscription (daprd: unlimited unless --app-max-concurrency).
CONCURRENCY = 32
BULK_CONCURRENCY = 4


class PubSubSubsystem(Subsystem):
    """Publish API, durable outbox, subscriptions and delivery."""

    name = "pubsub"

    def __init__(self, sidecar: Runtime, resources: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        config = sidecar.config
        #: copies for other apps sharing an embedded component (registered sidecars only)
        self.fanout: Fanout | None = None
        if config.register:
            self.fanout = Fanout(
                sidecar.store,
                config.app_id,
                config.namespace or DEFAULT_NAMESPACE,
                Path(config.registry_dir) if config.registry_dir else registry_dir(),
                {comp.name: comp.type for comp in resources.of_kind("pubsub")},
            )
        ctx = BrokerContext(
            store=sidecar.store,
            clock=sidecar.clock,
            app_id=sidecar.config.app_id,
            spawn=sidecar.spawn,
            route=self._route,
            enqueue=self._enqueue,
            forget=self._tracked_discard,
            fanout=self.fanout,
        )
        #: the broker of each pub/sub component, by component name
        self.brokers: dict[str, Broker] = {
            comp.name: BROKERS[comp.type](comp, ctx) for comp in resources.of_kind("pubsub")
        }
        self.pubsubs = set(self.brokers)
        self.resiliency = resources.resiliency
        self.declared = list(resources.resources.subscriptions)
        self.subs: dict[tuple[str, str], ActiveSubscription] = {}
        self._routing = False
        self._tracked: set[int] = set()
        self._retries: list[tuple[float, int, Message]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._retry_task: asyncio.Task[None] | None = None

    def _unique_brokers(self) -> list[Broker]:
        """Each broker once (components of one type may share one, e.g. the outbox)."""
        return list({id(b): b for b in self.brokers.values()}.values())

    def _tracked_discard(self, msg_id: int) -> None:
        self._tracked.discard(msg_id)

    def _enqueue(self, sub: ActiveSubscription, msg: Message) -> None:
        self._tracked.add(msg.id)
        sub.queue.put_nowait(msg)

    def _start_reader(self, sub: ActiveSubscription) -> None:
        reader = self.brokers[sub.sdef.pubsubname].reader(sub)
        if reader is not None:
            sub.workers.append(self.sidecar.spawn(reader))

    def _flush(self) -> None:
        for broker in self._unique_brokers():
            broker.flush()

    def _load_backlog(self, key: tuple[str, str] | None = None) -> None:
        """Route every undelivered stored message (of one pubsub/topic when `key` is given)."""
        brokers = [self.brokers[key[0]]] if key is not None else self._unique_brokers()
        for broker in brokers:
            broker.backlog(key)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.fanout is not None:
            self.fanout.start()
        self._wake = asyncio.Event()
        self._retry_task = self.sidecar.spawn(self._retry_loop())

    async def on_app_ready(self) -> None:
        programmatic = parse_subscribe(await self.sidecar.app.list_subscriptions())
        await self.set_subscriptions(self.declared + programmatic)

    async def stop(self) -> None:
        for sub in self.subs.values():
            for task in sub.workers:
                task.cancel()
        for broker in self._unique_brokers():
            await broker.close()
        if self.fanout is not None:
            await self.fanout.close()

    def busy(self) -> bool:
        if any(broker.busy() for broker in self._unique_brokers()):
            return True
        if self._retries and self._retries[0][0] <= self.sidecar.clock.time():
            return True
        # Stream subscribers answer at their own pace: they never hold the sidecar busy; nor do
        # deliveries paused while the app is unhealthy.
        if not self.sidecar.app.ready.is_set():
            return False
        return any(
            s.inflight or not s.queue.empty() for s in self.subs.values() if s.stream is None
        )

    def metadata_info(self) -> dict[str, Any]:
        """Active subscriptions; declarative ones are listed even before the app is read
        (daprd loads them at start-up, whether or not an app ever answers)."""
        sdefs = [s.sdef for s in self.subs.values()]
        if not self._routing:
            active = {(d.pubsubname, d.topic) for d in sdefs}
            sdefs += [
                d
                for d in self.declared
                if (d.pubsubname, d.topic) not in active and d.pubsubname in self.pubsubs
            ]
        return {"subscriptions": [d.to_metadata() for d in sdefs]}

    # -- subscriptions ------------------------------------------------------------------------
    async def set_subscriptions(self, defs: list[SubscriptionDef]) -> None:
        """Replace the active subscriptions, then (re)load undelivered messages."""
        for sub in self.subs.values():
            if sub.stream is None:
                for task in sub.workers:
                    task.cancel()
        streams = {k: s for k, s in self.subs.items() if s.stream is not None}
        self.subs = {}
        for sdef in defs:
            if sdef.pubsubname not in self.pubsubs:
                log.warning(
                    "%s: subscription to %s/%s names pub/sub %r which is not defined; ignored",
                    sdef.source,
                    sdef.pubsubname,
                    sdef.topic,
                    sdef.pubsubname,
                )
                continue
            try:
                sub = ActiveSubscription(sdef, self.resiliency.component_retry(sdef.pubsubname))
                sub.timeout = self.resiliency.component_timeout(sdef.pubsubname)
            except RuleError as exc:
                log.error(
                    "%s: subscription %s/%s: %s", sdef.source, sdef.pubsubname, sdef.topic, exc
                )
                continue
            if sub.key in self.subs:
                log.warning(
                    "%s: duplicate subscription for %s/%s replaces the earlier one",
                    sdef.source,
                    *sub.key,
                )
            self.subs[sub.key] = sub
        for key, sub in streams.items():
            if key in self.subs:
                log.warning("app subscription to %s/%s ignored: a stream holds it", *key)
            self.subs[key] = sub
        for sub in self.subs.values():
            if sub.stream is not None:
                continue
            n = BULK_CONCURRENCY if sub.sdef.bulk_enabled else CONCURRENCY
            worker = self._bulk_worker if sub.sdef.bulk_enabled else self._worker
            sub.workers = [self.sidecar.spawn(worker(sub)) for _ in range(n)]
            self._start_reader(sub)
        self._retries.clear()
        self._tracked.clear()
        self._routing = True
        # Publishes waiting for their commit are routed by it (and tracked) before the backlog
        # is read, so the backlog skips them: flushed after clearing `_tracked`, not before,
        # or each would be queued twice and delivered twice.
        self._flush()
        self._load_backlog()
        if self.fanout is not None:
            self.fanout.publish_subscriptions(list(self.subs))

    # -- publish ------------------------------------------------------------------------------
    def _check(self, pubsub: str, topic: str) -> None:
        if not self.pubsubs:
            raise DaprApiError(
                400,
                "ERR_PUBSUB_NOT_CONFIGURED",
                f"no pubsub is configured (publishing to {pubsub}/{topic}): add a pubsub "
                "Component to a resources folder",
                grpc.StatusCode.FAILED_PRECONDITION,
            ).with_error_info("DAPR_PUBSUB_NOT_CONFIGURED")
        if not pubsub:
            raise DaprApiError(
                404,
                "ERR_PUBSUB_EMPTY",
                "pubsub name is empty: pass the name of a pubsub Component",
                grpc.StatusCode.INVALID_ARGUMENT,
            ).with_error_info("DAPR_PUBSUB_NAME_EMPTY")
        if pubsub not in self.pubsubs:
            raise not_found("pubsub", pubsub, "ERR_PUBSUB_NOT_FOUND", 404, "DAPR_PUBSUB_NOT_FOUND")
        if not topic:
            raise (
                DaprApiError(
                    404,
                    "ERR_TOPIC_NAME_EMPTY",
                    f"topic is empty in pubsub {pubsub}: pass the name of the topic",
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
                .with_error_info("DAPR_PUBSUB_TOPIC_NAME_EMPTY")
                .with_resource("pubsub", pubsub)
            )

    def _row(
        self,
        pubsub: str,
        topic: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str],
        traceparent: str = "",
        tracestate: str = "",
    ) -> Row:
        raw = str(metadata.get("rawPayload", "")).lower() == "true"
        if raw:
            return (pubsub, topic, data, metadata, True)
        try:
            event = envelope(
                data=data,
                content_type=content_type,
                topic=topic,
                pubsub=pubsub,
                source=self.sidecar.config.app_id,
                traceparent=traceparent,
                tracestate=tracestate,
                metadata=metadata,
                now=format_rfc3339(self.sidecar.clock.time()),
            )
        except MalformedCloudEvent as exc:
            raise cloud_event_creation_error(pubsub, self.sidecar.config.app_id, exc) from None
        return (pubsub, topic, dumps(event), metadata, False)

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: bytes,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
        traceparent: str = "",
        tracestate: str = "",
    ) -> int:
        """Commit one event durably; returns its outbox id once committed."""
        self._check(pubsub, topic)
        row = self._row(
            pubsub, topic, data, content_type, dict(metadata or {}), traceparent, tracestate
        )
        ids = await self.brokers[pubsub].publish([row])
        return ids[0]

    async def bulk_publish(
        self,
        pubsub: str,
        topic: str,
        entries: list[tuple[str, bytes, str, dict[str, str]]],
        metadata: dict[str, str] | None = None,
    ) -> list[tuple[str, str]]:
        """Commit several events in one transaction; returns failed (entryId, error) pairs."""
        self._check(pubsub, topic)
        ids = [entry[0] for entry in entries]
        if "" in ids or len(set(ids)) != len(ids):
            raise DaprApiError(
                400,
                "ERR_PUBSUB_EVENTS_SER",
                f"error marshaling events to bytes for topic {topic} pubsub {pubsub}. error: "
                "entryId is duplicated or not present for entry: give every entry a unique entryId",
                grpc.StatusCode.INVALID_ARGUMENT,
            ).with_error_info("DAPR_PUBSUB_MARSHAL_EVENTS")
        rows = []
        for _entry_id, data, ctype, meta in entries:
            merged = {**(metadata or {}), **meta}
            rows.append(self._row(pubsub, topic, data, ctype, merged))
        try:
            await self.brokers[pubsub].publish(rows)
        except Exception as exc:  # the broker refused them
            return [(e[0], str(exc)) for e in entries]
        return []

    def _route(self, msg: Message) -> None:
        if msg.id in self._tracked:
            return
        sub = self.subs.get((msg.pubsub, msg.topic))
        if sub is None and not self._routing:
            return  # subscriptions unknown yet: the row waits in the outbox
        if sub is None:
            log.debug(
                "no subscription for %s/%s: message %s dropped", msg.pubsub, msg.topic, msg.id
            )
            self._finish(msg)
            return
        self._tracked.add(msg.id)
        sub.queue.put_nowait(msg)

    def _finish(self, msg: Message, dead_letter: str = "") -> None:
        self.brokers[msg.pubsub].settle(msg, dead_letter)

    # -- delivery -----------------------------------------------------------------------------
    async def _worker(self, sub: ActiveSubscription) -> None:
        while True:
            msg = await sub.queue.get()
            if sub.stream is None:
                await self.sidecar.app.ready.wait()  # paused while the app is unhealthy
            if self.sidecar.quiesced:  # shutting down: it stays in the outbox for the next run
                self._tracked.discard(msg.id)
                return
            sub.inflight += 1
            try:
                await self._deliver(sub, msg)
            except asyncio.CancelledError:
                self._tracked.discard(msg.id)  # still in the outbox: delivered again later
                raise
            except Exception:
                log.exception("delivering message %s to %s failed", msg.id, sub.sdef.topic)
                self._settle(sub, msg, Outcome.RETRY)
            finally:
                sub.inflight -= 1

    async def _deliver(self, sub: ActiveSubscription, msg: Message) -> None:
        if sub.stream is not None:
            self._settle(sub, msg, await sub.stream.deliver(msg, sub.raw))
            return
        path = sub.path_for(msg)
        if not path and not self._empty_route_ok(sub):
            log.warning("event %s on %s/%s matches no route", msg.id, *sub.key)
            self._dead_letter(sub, msg, "no matching route")
            return
        try:
            resp = await self.sidecar.app.deliver_event(sub, msg, path, sub.timeout)
        except AppUnavailable as exc:
            log.warning("delivering event %s to %s: %s", msg.id, path, exc)
            self._settle(sub, msg, Outcome.RETRY)
            return
        self._settle(sub, msg, classify(resp))

    def _empty_route_ok(self, sub: ActiveSubscription) -> bool:
        """gRPC apps get route-less subscriptions with path "" (daprd: `routes == nil`)."""
        return self.sidecar.app.empty_route_ok and not sub.router.needs_event

    async def _bulk_worker(self, sub: ActiveSubscription) -> None:
        max_count = max(1, int(sub.sdef.bulk.get("maxMessagesCount") or 100))
        max_wait = float(sub.sdef.bulk.get("maxAwaitDurationMs") or 1000) / 1000.0
        loop = asyncio.get_running_loop()
        while True:
            batch = [await sub.queue.get()]
            await self.sidecar.app.ready.wait()  # paused while the app is unhealthy
            sub.inflight += 1
            try:
                deadline = loop.time() + (0.0 if self.sidecar.clock.is_virtual else max_wait)
                while len(batch) < max_count:
                    if not sub.queue.empty():
                        batch.append(sub.queue.get_nowait())
                        continue
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(sub.queue.get(), remaining))
                    except TimeoutError:
                        break
                await self._deliver_bulk(sub, batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bulk delivery to %s/%s failed", *sub.key)
                for msg in batch:
                    self._settle(sub, msg, Outcome.RETRY)
            finally:
                sub.inflight -= 1

    async def _deliver_bulk(self, sub: ActiveSubscription, batch: list[Message]) -> None:
        by_path: dict[str, list[Message]] = {}
        for msg in batch:
            path = sub.path_for(msg)
            if not path and not self._empty_route_ok(sub):
                self._dead_letter(sub, msg, "no matching route")
                continue
            by_path.setdefault(path, []).append(msg)
        for path, msgs in by_path.items():
            envelope = bulk_envelope(sub.sdef, msgs, sub.raw)
            try:
                resp = await self.sidecar.app.deliver_bulk(envelope, sub.raw, path, sub.timeout)
            except AppUnavailable as exc:
                log.warning("bulk delivery to %s: %s", path, exc)
                for msg in msgs:
                    self._settle(sub, msg, Outcome.RETRY)
                continue
            outcomes = classify_bulk(resp, [str(m.id) for m in msgs])
            for msg in msgs:
                self._settle(sub, msg, outcomes[str(msg.id)])

    def _settle(self, sub: ActiveSubscription, msg: Message, outcome: Outcome) -> None:
        if outcome is Outcome.SUCCESS:
            self._finish(msg)
        elif outcome is Outcome.NOT_FOUND:
            log.error(
                "non-retriable error from the app for event %s on %s/%s: 404; dropped",
                msg.id,
                *sub.key,
            )
            self._finish(msg)
        elif outcome is Outcome.DROP:
            log.warning("DROP status returned by the app for event %s on %s/%s", msg.id, *sub.key)
            self._dead_letter(sub, msg, "dropped by the app")
        elif sub.retry.allows(msg.retries):
            msg.retries += 1
            due = self.sidecar.clock.time() + sub.retry.delay(msg.retries)
            heapq.heappush(self._retries, (due, next(self._seq), msg))
            self._wake.set()
        else:
            self._dead_letter(sub, msg, f"retries exhausted after {msg.retries + 1} attempts")

    def _dead_letter(self, sub: ActiveSubscription, msg: Message, reason: str) -> None:
        dlq = sub.sdef.dead_letter_topic
        record_dead_letter(
            self.sidecar.store,
            pubsub=msg.pubsub,
            topic=msg.topic,
            dead_letter_topic=dlq,
            body=msg.body,
            metadata=msg.metadata,
            raw=msg.raw,
            reason=reason,
            now=self.sidecar.clock.time(),
        )  # for `funchost deadletters`
        if dlq:
            log.warning(
                "event %s on %s/%s: %s; sent to dead-letter topic %s", msg.id, *sub.key, reason, dlq
            )
        else:
            log.error(
                "event %s on %s/%s: %s; dropped (no dead-letter topic)", msg.id, *sub.key, reason
            )
        self._finish(msg, dlq)

    async def _retry_loop(self) -> None:
        clock = self.sidecar.clock
        while True:
            self._wake.clear()
            now = clock.time()
            while self._retries and self._retries[0][0] <= now:
                _, _, msg = heapq.heappop(self._retries)
                sub = self.subs.get((msg.pubsub, msg.topic))
                if sub is None:
                    self._tracked.discard(msg.id)
                    self._route(msg)
                else:
                    sub.queue.put_nowait(msg)
            deadline = self._retries[0][0] if self._retries else now + 3600.0
            await clock.sleep_until(deadline, wake=self._wake)

    def routes(self) -> list[BaseRoute]:
        shared = self.fanout.routes(self.brokers) if self.fanout is not None else []
        return [*pubsub_routes(self), *shared]

    # -- streaming subscriptions (gRPC SubscribeTopicEventsAlpha1) -----------------------------
    def add_stream(self, sdef: SubscriptionDef, stream: Any) -> ActiveSubscription:
        """Start delivering `sdef`'s topic to a gRPC stream; raises DaprApiError."""
        self._check(sdef.pubsubname, sdef.topic)
        key = (sdef.pubsubname, sdef.topic)
        if key in self.subs:
            raise DaprApiError(
                409,
                "ERR_PUBSUB_SUBSCRIBE",
                f"topic {sdef.topic} on pubsub {sdef.pubsubname} already has a subscription "
                "(the app's or another stream's): close that stream, or subscribe to another topic",
                grpc.StatusCode.ALREADY_EXISTS,
            )
        sub = ActiveSubscription(sdef, self.resiliency.component_retry(sdef.pubsubname))
        sub.stream = stream
        sub.workers = [self.sidecar.spawn(self._worker(sub)) for _ in range(CONCURRENCY)]
        self._start_reader(sub)
        self.subs[key] = sub
        self._load_backlog(key)
        if self.fanout is not None:  # other apps' publishes reach this stream too
            self.fanout.publish_subscriptions(list(self.subs))
        return sub

    def remove_stream(self, sub: ActiveSubscription) -> None:
        """The stream ended: stop its workers; unsettled events stay in the outbox."""
        if self.subs.get(sub.key) is sub:
            del self.subs[sub.key]
        for task in sub.workers:
            task.cancel()
        while not sub.queue.empty():
            self._tracked.discard(sub.queue.get_nowait().id)
