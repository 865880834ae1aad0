"""`configuration.redis`: items in a real Redis, as components-contrib `configuration/redis`.

Each item is a plain string `value||version` (`SET orderId1 "101||1"`); the version is what
follows the first `||` ("" without one); empty values and non-string keys are skipped. Changes
come from keyspace notifications: on subscribe the store sends
`CONFIG SET notify-keyspace-events Kg$xe` (result ignored, as daprd does; a server that forbids
CONFIG SET must have them enabled already), then `SUBSCRIBE __keyspace@<db>__:<key>` per key,
or `PSUBSCRIBE __keyspace@<db>__:*` for all keys. Each notification re-reads the key; a key
that is gone or empty is reported as an empty item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from ..component import Component
from ..state.redis import redis_client
from ._store import ConfigItem, ConfigurationStoreError, Notify

log = logging.getLogger("funchost.sidecar.configuration")

SEPARATOR = "||"


def parse_value(raw: bytes | str) -> ConfigItem:
    """`value||version` -> ConfigItem (components-contrib `GetRedisValueAndVersion`)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    parts = text.split(SEPARATOR)
    return ConfigItem(parts[0], parts[1] if len(parts) > 1 else "")


class RedisConfigurationStore:
    """Reads `value||version` strings; watches keys through keyspace notifications."""

    def __init__(self, comp: Component) -> None:
        self.comp = comp
        self.client: Any = redis_client(comp, asyncio=True)
        self.db = int(comp.meta("redisDB") or 0)
        self._tasks: dict[str, tuple[asyncio.Task[None], Any]] = {}

    def _fail(self, exc: Exception) -> ConfigurationStoreError:
        host = self.comp.meta("redisHost") or "localhost:6379"
        return ConfigurationStoreError(f"Redis at {host} ({self.comp.name}): {exc}")

    async def _read(self, keys: list[str], quiet: bool = False) -> dict[str, ConfigItem]:
        import redis

        if not keys:
            keys = sorted(k.decode() for k in await self.client.keys("*"))
        out: dict[str, ConfigItem] = {}
        for key in keys:
            try:
                raw = await self.client.get(key)
            except redis.ResponseError as exc:  # WRONGTYPE: not a configuration item
                level = logging.DEBUG if quiet else logging.WARNING
                log.log(level, "configuration.redis %s: skipping %r: %s", self.comp.name, key, exc)
                continue
            if raw is None:
                continue
            item = parse_value(raw)
            if item.value:
                out[key] = item
        return out

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigItem]:
        try:
            return await self._read(keys)
        except Exception as exc:
            raise self._fail(exc) from None

    async def subscribe(self, keys: list[str], metadata: dict[str, str], notify: Notify) -> str:
        sub_id = str(uuid.uuid4())
        prefix = f"__keyspace@{self.db}__:"
        try:
            with contextlib.suppress(Exception):
                await self.client.config_set("notify-keyspace-events", "Kg$xe")
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            if keys:
                await pubsub.subscribe(*[prefix + k for k in keys])
            else:
                await pubsub.psubscribe(prefix + "*")
        except Exception as exc:
            raise self._fail(exc) from None
        task = asyncio.get_running_loop().create_task(self._listen(pubsub, prefix, sub_id, notify))
        self._tasks[sub_id] = (task, pubsub)
        return sub_id

    async def _listen(self, pubsub: Any, prefix: str, sub_id: str, notify: Notify) -> None:
        while True:
            try:
                msg = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("configuration.redis %s: subscription stopped: %s", self.comp.name, exc)
                return
            if msg is None or msg.get("type") not in ("message", "pmessage"):
                continue
            channel = msg["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            key = channel[len(prefix) :]
            try:
                items = await self._read([key], quiet=True)  # e.g. a hash touched by others
            except Exception as exc:
                log.error("configuration.redis %s: re-reading %r: %s", self.comp.name, key, exc)
                continue
            notify(sub_id, {key: items.get(key, ConfigItem())})

    async def unsubscribe(self, subscription_id: str) -> bool:
        entry = self._tasks.pop(subscription_id, None)
        if entry is None:
            return False
        task, pubsub = entry
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        return True

    async def set(self, items: dict[str, ConfigItem | None]) -> dict[str, ConfigItem]:
        """Write `value||version` strings (funchost config set); a missing version counts up."""
        changed: dict[str, ConfigItem] = {}
        try:
            for key, item in items.items():
                if item is None:
                    if await self.client.delete(key):
                        changed[key] = ConfigItem()
                    continue
                version = item.version
                if not version:
                    old = await self._read([key])
                    try:
                        version = str(int(old[key].version or "0") + 1) if key in old else "1"
                    except ValueError:
                        version = "1"
                await self.client.set(key, f"{item.value}{SEPARATOR}{version}")
                changed[key] = ConfigItem(item.value, version)
        except Exception as exc:
            raise self._fail(exc) from None
        return changed

    async def close(self) -> None:
        for sub_id in list(self._tasks):
            await self.unsubscribe(sub_id)
        with contextlib.suppress(Exception):
            await self.client.aclose()
