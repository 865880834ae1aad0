"""`state.postgresql` (v1): daprd's PostgreSQL state store on a real server (psycopg 3, async).

Table layout and semantics of components-contrib's v1 store, so a table written here reads the
same under daprd: `<tableName>(key text PRIMARY KEY, value jsonb, isbinary boolean, insertdate,
updatedate, expiredate)`, migrations recorded under `migrations` in `<metadataTableName>`.
- JSON values (the HTTP API, or gRPC with metadata `contentType: application/json`) are stored as
  jsonb and can be queried; other bytes as a base64 JSON string with `isbinary = true`.
- The etag is the row's `xmin`; an etag that is not a uint32 is invalid; first-write without an
  etag only replaces an expired row (otherwise "no item was updated", as daprd).
- `ttlInSeconds` sets `expiredate`; reads skip expired rows; a cleanup deletes them every
  `cleanupInterval` (default 1h; 0 disables). TTLs follow the database's clock.
- Keys carry daprd's prefix (`keyPrefix`: appid (default), name, namespace, none, or a literal).
- Every call runs on a pooled async connection: the sidecar's event loop never waits on it.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
from typing import Any

from ..component import Component, ComponentError
from ..timeformats import parse_duration
from .backend import (
    FIRST_WRITE,
    BackendContext,
    EtagInvalid,
    EtagMismatch,
    QueryItem,
    QueryResult,
    StateItem,
    StateStoreError,
    StoredValue,
)
from .backend import key_prefix as backend_key_prefix
from .postgresql_query import PgQuery
from .query import Query

log = logging.getLogger("funchost.sidecar.state")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_SEP = "||"


def create(comp: Component, ctx: BackendContext) -> PostgresStateBackend:
    """The `state.postgresql` store `comp` (connects in `open()`, at sidecar start)."""
    return PostgresStateBackend(comp, ctx.app_id)


def connection_string(comp: Component) -> str:
    """`connectionString` (alias `url`), else one built from host/port/database/user/password."""
    dsn = comp.meta("connectionString") or comp.meta("url") or ""
    if dsn and "://" not in dsn:
        # pgx accepts `database=`; libpq calls it `dbname=`
        dsn = re.sub(r"(^|\s)database=", r"\1dbname=", dsn)
    if dsn:
        return dsn
    parts = {
        "host": comp.meta("host"),
        "hostaddr": comp.meta("hostaddr"),
        "port": comp.meta("port"),
        "dbname": comp.meta("database"),
        "user": comp.meta("user"),
        "password": comp.meta("password"),
    }
    if not any(parts.values()):
        raise ComponentError(
            f"{comp.source}: Component {comp.name!r}: spec.metadata.connectionString is missing: "
            "set it to a PostgreSQL connection string, e.g. "
            "'host=localhost user=postgres password=secret port=5432 database=dapr'"
        )
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def key_prefix(comp: Component, app_id: str) -> str:
    """daprd's state key prefix for `comp` ("" for keyPrefix none); see `backend.key_prefix`."""
    return backend_key_prefix(comp.meta("keyPrefix"), app_id, comp.name)


def _table_name(comp: Component, field: str, default: str) -> str:
    name = comp.meta(field) or default
    if not _NAME.match(name):
        raise ComponentError(
            f"{comp.source}: Component {comp.name!r}: spec.metadata.{field} {name!r} is not a "
            "table name: use letters, digits and _ (optionally schema.table)"
        )
    return name


def _cleanup_seconds(comp: Component) -> float:
    raw = comp.meta("cleanupInterval") or comp.meta("cleanupIntervalInSeconds") or ""
    if raw == "":
        return 3600.0
    try:
        return float(raw)  # seconds, as the deprecated cleanupIntervalInSeconds
    except ValueError:
        pass
    try:
        return float(parse_duration(raw))
    except ValueError:
        raise ComponentError(
            f"{comp.source}: Component {comp.name!r}: spec.metadata.cleanupInterval {raw!r} is "
            "not a duration: use e.g. '1h', '10m' or '0' to disable"
        ) from None


class PostgresStateBackend:
    """An `AsyncStateBackend` and `Querier` on PostgreSQL."""

    def __init__(self, comp: Component, app_id: str) -> None:
        self.comp = comp
        self.name = comp.name
        self.dsn = connection_string(comp)
        self.table = _table_name(comp, "tableName", "state")
        self.meta_table = _table_name(comp, "metadataTableName", "dapr_metadata")
        self.prefix = key_prefix(comp, app_id)
        self.cleanup_interval = _cleanup_seconds(comp)
        #: the connection pool, shared with `unprefixed()` views (set by `open()`)
        self._pool: list[Any] = [None]

    @property
    def pool(self) -> Any:
        return self._pool[0]

    @pool.setter
    def pool(self, value: Any) -> None:
        self._pool[0] = value

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            import psycopg
            from psycopg_pool import AsyncConnectionPool
        except ImportError:
            raise ComponentError(
                f"{self.comp.source}: Component {self.name!r}: spec.type: {self.comp.type} needs "
                "psycopg 3 and psycopg-pool: pip install 'funchost[postgres]'"
            ) from None
        self.pool = AsyncConnectionPool(
            self.dsn, min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
        )
        try:
            # one direct connection first: a refused or misnamed server fails now, with its reason
            conn = await psycopg.AsyncConnection.connect(self.dsn, connect_timeout=20)
            await conn.close()
            await self.pool.open(wait=True, timeout=20)
            await self._migrate()
        except Exception as exc:
            await self.pool.close()
            self.pool = None
            raise ComponentError(
                f"{self.comp.source}: Component {self.name!r}: spec.metadata.connectionString: "
                f"cannot use PostgreSQL: {' '.join(str(exc).split())}: check the server runs and "
                "the connection string's host, port, user, password and database"
            ) from None

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def _migrate(self) -> None:
        """components-contrib v1 migrations: 1 creates the table, 2 adds `expiredate`.

        Both statements are idempotent and always run: daprd records one migration level per
        metadata table, so a second store with another tableName would otherwise never get its
        table.
        """
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.meta_table,))
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.meta_table} "
                "(key text NOT NULL PRIMARY KEY, value text NOT NULL)"
            )
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                "key text NOT NULL PRIMARY KEY, value jsonb NOT NULL, "
                "isbinary boolean NOT NULL, "
                "insertdate TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(), "
                "updatedate TIMESTAMP WITH TIME ZONE NULL)"
            )
            await conn.execute(
                f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS "
                "expiredate TIMESTAMP WITH TIME ZONE"
            )
            await conn.execute(
                f"INSERT INTO {self.meta_table} (key, value) VALUES ('migrations', '2') "
                f"ON CONFLICT (key) DO UPDATE SET value = GREATEST({self.meta_table}.value::int, "
                "2)::text"
            )

    def unprefixed(self) -> PostgresStateBackend:
        """This store without the key prefix (for actor state, whose keys carry their own)."""
        view = copy.copy(self)
        view.prefix = ""
        return view

    # -- keys and values -----------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self.prefix}{_SEP}{key}" if self.prefix else key

    def _item_key(self, item: StateItem) -> str:
        return item.key if item.raw_key else self._key(item.key)

    @staticmethod
    def _encode(item: StateItem) -> tuple[str, bool]:
        raw = item.value or b""
        if item.is_json:
            try:
                json.loads(raw)
                return raw.decode(), False
            except ValueError:
                pass
        return json.dumps(base64.b64encode(raw).decode()), True

    @staticmethod
    def _decode(value: str, isbinary: bool) -> bytes:
        if isbinary:
            return base64.b64decode(json.loads(value))
        return value.encode()

    @staticmethod
    def _etag(item: StateItem) -> str:
        try:
            etag = int(item.etag or "", 10)
        except ValueError:
            etag = -1
        if not 0 <= etag < 2**32:
            raise EtagInvalid(f"invalid etag value {item.etag!r}: etags are uint32 integers")
        return str(etag)

    # -- reads ---------------------------------------------------------------------------------
    _SELECT = (
        "SELECT key, value::text, isbinary, xmin::text, "
        "EXTRACT(EPOCH FROM expiredate)::float8 FROM {table} WHERE {where} "
        "AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)"
    )

    async def get(self, key: str) -> StoredValue | None:
        sql = self._SELECT.format(table=self.table, where="key = %s")
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, (self._key(key),))
            row = await cur.fetchone()
        if row is None:
            return None
        return StoredValue(self._decode(row[1], row[2]), row[3], row[4])

    async def bulk_get(self, keys: list[str]) -> dict[str, StoredValue | None]:
        sql = self._SELECT.format(table=self.table, where="key = ANY(%s)")
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, ([self._key(k) for k in keys],))
            rows = await cur.fetchall()
        found = {r[0]: StoredValue(self._decode(r[1], r[2]), r[3], r[4]) for r in rows}
        return {k: found.get(self._key(k)) for k in keys}

    async def query(self, query: Query, metadata: dict[str, str]) -> QueryResult:
        built = PgQuery(query, self.table)
        async with self.pool.connection() as conn:
            cur = await conn.execute(built.sql, built.params)
            rows = await cur.fetchall()
        items = [QueryItem(_original_key(r[0]), r[1].encode(), r[2]) for r in rows]
        return QueryResult(items, built.token(len(items)))

    # -- writes --------------------------------------------------------------------------------
    async def _set(self, conn: Any, item: StateItem) -> None:
        value, isbinary = self._encode(item)
        ttl = int(item.ttl) if item.ttl is not None else 0
        expire = f"CURRENT_TIMESTAMP + interval '{ttl} seconds'" if ttl > 0 else "NULL"
        if item.etag:
            cur = await conn.execute(
                f"UPDATE {self.table} SET value = %s::jsonb, isbinary = %s, "
                f"updatedate = CURRENT_TIMESTAMP, expiredate = {expire} "
                "WHERE key = %s AND xmin = %s::xid "
                "AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)",
                (value, isbinary, self._item_key(item), self._etag(item)),
            )
            if cur.rowcount != 1:
                raise EtagMismatch(f"possible etag mismatch for key {item.key!r}")
            return
        where = ""
        if item.concurrency == FIRST_WRITE:
            where = " WHERE (t.expiredate IS NOT NULL AND t.expiredate < CURRENT_TIMESTAMP)"
        cur = await conn.execute(
            f"INSERT INTO {self.table} AS t (key, value, isbinary, expiredate) "
            f"VALUES (%s, %s::jsonb, %s, {expire}) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, isbinary = excluded.isbinary, "
            f"updatedate = CURRENT_TIMESTAMP, expiredate = {expire}{where}",
            (self._item_key(item), value, isbinary),
        )
        if cur.rowcount != 1:
            raise StateStoreError("no item was updated")

    async def _delete(self, conn: Any, item: StateItem) -> None:
        if not item.etag:
            await conn.execute(f"DELETE FROM {self.table} WHERE key = %s", (self._item_key(item),))
            return
        cur = await conn.execute(
            f"DELETE FROM {self.table} WHERE key = %s AND xmin = %s::xid",
            (self._item_key(item), self._etag(item)),
        )
        if cur.rowcount != 1:
            raise EtagMismatch(f"possible etag mismatch for key {item.key!r}")

    async def set_many(self, items: list[StateItem]) -> None:
        await self.transact([("upsert", item) for item in items])

    async def delete(self, item: StateItem) -> None:
        await self.transact([("delete", item)])

    async def transact(self, ops: list[tuple[str, StateItem]]) -> None:
        if not ops:
            return
        async with self.pool.connection() as conn:
            if len(ops) == 1:
                await self._apply(conn, ops[0])
                return
            async with conn.transaction():
                for op in ops:
                    await self._apply(conn, op)

    async def _apply(self, conn: Any, op: tuple[str, StateItem]) -> None:
        kind, item = op
        if kind == "delete":
            await self._delete(conn, item)
        else:
            await self._set(conn, item)

    async def purge_expired(self) -> int:
        """Delete expired rows and record `last-cleanup` (as daprd's garbage collector)."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"DELETE FROM {self.table} WHERE expiredate IS NOT NULL AND expiredate < now()"
            )
            await conn.execute(
                f"INSERT INTO {self.meta_table} (key, value) VALUES ('last-cleanup', now()::text) "
                "ON CONFLICT (key) DO UPDATE SET value = now()::text"
            )
            return int(cur.rowcount or 0)


def _original_key(key: str) -> str:
    """daprd's `GetOriginalStateKey`: the key without its `<prefix>||`."""
    parts = key.split(_SEP, 1)
    return parts[1] if len(parts) > 1 else key
