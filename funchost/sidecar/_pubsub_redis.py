"""`pubsub.redis`: Redis Streams with a consumer group per app, as daprd's Redis pub/sub.

Publish is `XADD <topic> * data <bytes> metadata <json>` (acknowledged once Redis has it).
Each subscription reads with `XREADGROUP` in group `consumerID` (default: the app id), first its
own pending entries (delivered before a crash, never acknowledged), then new ones; an entry is
`XACK`ed once its delivery is settled (success, drop or dead-lettered): at-least-once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .component import Component
from .state.redis import redis_client

log = logging.getLogger("funchost.sidecar.pubsub")


class RedisStreams:
    """One `pubsub.redis` component."""

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
