"""`pubsub.redis`: Redis Streams with a consumer group per app, as daprd's Redis pub/sub.

Publish is `XADD <topic> * data <bytes> metadata <json>` (acknowledged once Redis has it).
Each subscription reads with `XREADGROUP` in group `consumerID` (default: the app id), first its
own pending entries (delivered before a crash, never acknowledged), then new ones; an entry is
`XACK`ed once its delivery is settled (success, drop or dead-lettered): at-least-once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from .._errors import DaprApiError
from ..component import Component
from ..state.redis import redis_client
from .broker import BrokerContext, Row
from .delivery import ActiveSubscription, Message

log = logging.getLogger("funchost.sidecar.pubsub")


def create(comp: Component, ctx: BrokerContext) -> RedisBroker:
    """The `pubsub.redis` component `comp`."""
    return RedisBroker(comp, ctx)


class RedisBroker:
    """A `Broker` on Redis Streams: a reader per subscription, `XACK` once settled."""

    def __init__(self, comp: Component, ctx: BrokerContext) -> None:
        self.name = comp.name
        self.ctx = ctx
        self.streams = RedisStreams(comp, ctx.app_id)
        self._settling = 0

    async def publish(self, rows: list[Row]) -> list[int]:
        for _pubsub, topic, body, meta, raw in rows:
            try:
                await self.streams.publish(topic, body, meta, raw)
            except Exception as exc:
                raise DaprApiError(
                    500,
                    "ERR_PUBSUB_PUBLISH_MESSAGE",
                    f"error when publishing to {self.name}: {exc}",
                ) from None
        return [0] * len(rows)

    def reader(self, sub: ActiveSubscription) -> Any:
        return self._read(sub)

    def backlog(self, key: tuple[str, str] | None = None) -> None:
        """Nothing to route: each reader starts with its own pending entries."""

    def settle(self, msg: Message, dead_letter: str = "") -> None:
        self._settling += 1
        self.ctx.spawn(self._ack(msg, dead_letter))

    def flush(self) -> None:
        """Nothing waits: publishes and acks go to Redis at once."""

    def busy(self) -> bool:
        return self._settling > 0

    async def close(self) -> None:
        await self.streams.close()

    async def _ack(self, msg: Message, dead_letter: str = "") -> None:
        try:
            if dead_letter:
                await self.streams.publish(dead_letter, msg.body, msg.metadata, msg.raw)
            await self.streams.ack(msg.topic, [msg.ref])
        except Exception:
            log.exception(
                "redis: settling message %s on %s/%s failed", msg.ref, msg.pubsub, msg.topic
            )
        finally:
            self._settling -= 1
            self.ctx.forget(msg.id)

    async def _read(self, sub: ActiveSubscription) -> None:
        """Feed a subscription from its Redis stream: own pending entries first, then new ones."""
        after: str | None = "0"  # own pending entries first (a crash left them unacknowledged)
        while True:
            try:
                while sub.queue.qsize() > 1000:
                    await asyncio.sleep(0.01)
                entries = await self.streams.read(sub.sdef.topic, after)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis: reading %s/%s failed: %s", *sub.key, exc)
                await asyncio.sleep(1.0)
                continue
            for ref, body, meta, raw in entries:
                msg = Message(next(self.ctx.ids), self.name, sub.sdef.topic, body, meta, raw)
                msg.ref = ref
                self.ctx.enqueue(sub, msg)
            if after is not None:
                after = entries[-1][0] if entries else None  # then only new entries


class RedisStreams:
    """The Redis Streams commands of one `pubsub.redis` component."""

    def __init__(self, comp: Component, app_id: str) -> None:
        self.comp = comp
        self.client = redis_client(comp, asyncio=True)
        self.group = comp.meta("consumerID") or app_id
        self.consumer = f"{app_id}-funchost"
        raw_max = comp.meta("maxLenApprox")
        self.maxlen = int(raw_max) if raw_max else None
        self._groups: set[str] = set()

    async def publish(self, topic: str, body: bytes, metadata: dict[str, str], raw: bool) -> str:
        fields: dict[str, Any] = {"data": body}
        if metadata:
            fields["metadata"] = json.dumps(metadata)
        if raw:
            fields["raw"] = "1"
        entry = await self.client.xadd(
            topic, fields, maxlen=self.maxlen, approximate=self.maxlen is not None
        )
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    async def ensure_group(self, topic: str) -> None:
        if topic in self._groups:
            return
        import redis

        try:
            await self.client.xgroup_create(topic, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(topic)

    async def read(
        self, topic: str, after: str | None, count: int = 100, block_ms: int = 1000
    ) -> list[tuple[str, bytes, dict[str, str], bool]]:
        """Entries for this consumer: its pending ones after id `after`, or new ones (None)."""
        await self.ensure_group(topic)
        resp = await self.client.xreadgroup(
            self.group,
            self.consumer,
            {topic: ">" if after is None else after},
            count=count,
            block=block_ms if after is None else None,
        )
        out = []
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                if not fields:  # deleted while pending
                    await self.ack(topic, [entry_id])
                    continue
                meta = json.loads(fields.get(b"metadata", b"{}") or b"{}")
                ref = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                out.append((ref, bytes(fields.get(b"data", b"")), meta, b"raw" in fields))
        return out

    async def ack(self, topic: str, refs: list[Any]) -> None:
        if refs:
            await self.client.xack(topic, self.group, *refs)

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except Exception:  # pragma: no cover - closing a broken connection
            log.debug("closing redis client failed", exc_info=True)
