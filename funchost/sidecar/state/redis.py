"""`state.redis`: the state backend on a real Redis server (redis-py, extra `redis`).

Layout as daprd's Redis state store: one hash per key, `<prefix>||<key>` with fields `data` and
`version` (the etag), TTL as the key's expiry. Each write is one Lua script (atomic check of the
etag, then write); a transaction checks every etag first, then applies every operation, in one
script. TTLs follow Redis's real clock (not the sidecar's virtual clock).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..component import Component, ComponentError
from .backend import (
    FIRST_WRITE,
    BackendContext,
    EtagInvalid,
    EtagMismatch,
    StateItem,
    StoredValue,
    key_prefix,
)

# ARGV per operation: op, etag, first_write, data, ttl  (5 values per key in KEYS)
_TX = """
local n = #KEYS
for i = 1, n do
  local base = (i - 1) * 5
  local etag, first = ARGV[base + 2], ARGV[base + 3]
  local ver = redis.call("HGET", KEYS[i], "version")
  if etag ~= "" then
    if (not ver) or ver ~= etag then return redis.error_reply("ETAG_MISMATCH " .. KEYS[i]) end
  elseif first == "1" and ARGV[base + 1] == "upsert" and ver then
    return redis.error_reply("ETAG_MISMATCH " .. KEYS[i])
  end
end
local out = {}
for i = 1, n do
  local base = (i - 1) * 5
  if ARGV[base + 1] == "delete" then
    redis.call("DEL", KEYS[i])
    out[i] = 0
  else
    redis.call("HSET", KEYS[i], "data", ARGV[base + 4])
    out[i] = redis.call("HINCRBY", KEYS[i], "version", 1)
    if ARGV[base + 5] ~= "" then
      redis.call("PEXPIRE", KEYS[i], ARGV[base + 5])
    else
      redis.call("PERSIST", KEYS[i])
    end
  end
end
return out
"""


def redis_client(comp: Component, asyncio: bool = False) -> Any:
    """A redis-py client from daprd's metadata names (redisHost, redisPassword, redisDB...)."""
    try:
        if asyncio:
            import redis.asyncio as redis_mod
        else:
            import redis as redis_mod  # type: ignore[no-redef]
    except ImportError:
        raise ComponentError(
            f"{comp.source}: Component {comp.name!r}: spec.type: {comp.type} needs redis-py: "
            "pip install 'funchost[redis]'"
        ) from None
    host_port = comp.meta("redisHost") or "localhost:6379"
    host, _, port = host_port.rpartition(":") if ":" in host_port else (host_port, "", "6379")
    return redis_mod.Redis(
        host=host or "localhost",
        port=int(port or 6379),
        username=comp.meta("redisUsername") or None,
        password=comp.meta("redisPassword") or None,
        db=int(comp.meta("redisDB") or 0),
        ssl=comp.flag("enableTLS"),
    )


def create(comp: Component, ctx: BackendContext) -> RedisStateBackend:
    """The `state.redis` store `comp` (fails naming redisHost when Redis does not answer)."""
    return RedisStateBackend(comp, ctx.app_id, ctx.clock_time)


class RedisStateBackend:
    """A `StateBackend` on Redis."""

    def __init__(self, comp: Component, app_id: str, clock_time: Callable[[], float]) -> None:
        self.name = comp.name
        self._now = clock_time
        self.client = redis_client(comp)
        self.prefix = key_prefix(comp.meta("keyPrefix"), app_id, comp.name)
        self._tx = self.client.register_script(_TX)
        try:
            self.client.ping()
        except Exception as exc:
            raise ComponentError(
                f"{comp.source}: Component {comp.name!r}: spec.metadata.redisHost: cannot reach "
                f"Redis at {comp.meta('redisHost') or 'localhost:6379'}: {exc}"
            ) from None

    def _key(self, key: str) -> str:
        return f"{self.prefix}||{key}" if self.prefix else key

    def unprefixed(self) -> RedisStateBackend:
        """This store without the key prefix (for actor state, whose keys carry their own)."""
        view = copy.copy(self)
        view.prefix = ""
        return view

    def get(self, key: str) -> StoredValue | None:
        pipe = self.client.pipeline()
        pipe.hmget(self._key(key), "data", "version")
        pipe.pttl(self._key(key))
        (data, version), pttl = pipe.execute()
        if version is None:
            return None
        expires = self._now() + pttl / 1000.0 if pttl and pttl > 0 else None
        return StoredValue(bytes(data or b""), version.decode(), expires)

    def bulk_get(self, keys: list[str]) -> dict[str, StoredValue | None]:
        return {key: self.get(key) for key in keys}

    def _args(self, op: str, item: StateItem) -> list[Any]:
        if item.etag:
            try:
                int(item.etag)
            except ValueError:
                raise EtagInvalid(f"invalid etag value {item.etag!r}: etags are integers") from None
        ttl = "" if item.ttl is None else str(max(1, int(item.ttl * 1000)))
        first = "1" if item.concurrency == FIRST_WRITE else "0"
        return [op, item.etag or "", first, item.value or b"", ttl]

    def transact(self, ops: list[tuple[str, StateItem]]) -> None:
        if not ops:
            return
        keys = [item.key if item.raw_key else self._key(item.key) for _, item in ops]
        args: list[Any] = []
        for op, item in ops:
            args.extend(self._args(op, item))
        import redis

        try:
            self._tx(keys=keys, args=args)
        except redis.ResponseError as exc:
            if "ETAG_MISMATCH" in str(exc):
                raise EtagMismatch(f"possible etag mismatch: {exc}") from None
            raise

    def set(self, item: StateItem) -> str:
        self.transact([("upsert", item)])
        stored = self.get(item.key)
        return stored.etag if stored else ""

    def set_many(self, items: list[StateItem]) -> None:
        self.transact([("upsert", item) for item in items])

    def delete(self, item: StateItem) -> None:
        self.transact([("delete", item)])

    def purge_expired(self) -> int:
        return 0
