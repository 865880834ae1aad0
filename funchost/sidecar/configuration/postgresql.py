"""`configuration.postgresql`: items in a real PostgreSQL table (components-contrib `postgres`).

Metadata: `connectionString` (or `url`), `table` (required; `^[a-z0-9./_]*$`, must exist),
`notifyChannel` (or `pgNotifyChannel`), `timeout` (seconds, default 20). The table's first four
columns are read as key, value, version, metadata (Dapr's docs: `KEY VARCHAR NOT NULL, VALUE
VARCHAR NOT NULL, VERSION VARCHAR NOT NULL, METADATA JSON`); when several rows share a key the
highest numeric version wins. Subscribing needs a NOTIFY channel (component metadata first, then
the request's `pgNotifyChannel`) fed by the user's trigger with
`pg_notify(channel, json_build_object('table', ..., 'action', TG_OP, 'data', row_to_json(...)))`;
each subscription LISTENs on its own connection.
Needs psycopg 3: `pip install 'funchost[postgres]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Any

from ..component import Component, ComponentError
from ._store import ConfigItem, ConfigurationStoreError, Notify

log = logging.getLogger("funchost.sidecar.configuration")

_TABLE_RE = re.compile(r"^[a-z0-9./_]*$")
_KEY_RE = re.compile(r"^[a-zA-Z0-9./_]*$")


def _psycopg(comp: Component) -> Any:
    try:
        import psycopg
    except ImportError:
        raise ComponentError(
            f"{comp.source}: Component {comp.name!r}: spec.type: {comp.type} needs psycopg 3: "
            "pip install 'funchost[postgres]'"
        ) from None
    return psycopg


def _version_number(version: str) -> int:
    try:
        return int(version)
    except ValueError:
        return -1


def _lower_keys(obj: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}


def _metadata(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


class PostgresConfigurationStore:
    """Reads Dapr's configuration table; LISTENs for the trigger's notifications."""

    def __init__(self, comp: Component) -> None:
        self.comp = comp
        self.psycopg = _psycopg(comp)
        where = f"{comp.source}: Component {comp.name!r}: spec.metadata"
        self.dsn = comp.meta("connectionString") or comp.meta("url") or ""
        if not self.dsn:
            raise ComponentError(f"{where}.connectionString: missing (e.g. host=... user=...)")
        self.table = comp.meta("table") or ""
        if not self.table:
            raise ComponentError(f"{where}.table: missing: name the configuration table")
        if not _TABLE_RE.match(self.table) or len(self.table) > 64:
            raise ComponentError(
                f"{where}.table: {self.table!r} is invalid: use lower-case letters, digits, "
                "'.', '/', '_' (at most 64 characters)"
            )
        self.channel = comp.meta("notifyChannel") or comp.meta("pgNotifyChannel") or ""
        timeout = comp.meta("timeout") or comp.meta("timeoutInSeconds") or "20"
        try:
            self.timeout = max(1.0, float(timeout.rstrip("s")))
        except ValueError:
            raise ComponentError(
                f"{where}.timeout: {timeout!r} is not a number of seconds"
            ) from None
        self._check_table(where)
        self._conn: Any = None
        self._conn_lock: asyncio.Lock | None = None
        self._subs: dict[str, tuple[asyncio.Task[None], Any]] = {}

    def _check_table(self, where: str) -> None:
        """daprd's Init fails when the table is missing: say so at start-up."""
        try:
            with self.psycopg.connect(self.dsn, connect_timeout=int(self.timeout)) as conn:
                row = conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
        except self.psycopg.Error as exc:
            raise ComponentError(f"{where}.connectionString: cannot connect: {exc}") from None
        if row is None or row[0] is None:
            raise ComponentError(
                f"{where}.table: table {self.table!r} does not exist: create it with columns "
                "KEY VARCHAR NOT NULL, VALUE VARCHAR NOT NULL, VERSION VARCHAR NOT NULL, "
                "METADATA JSON"
            )

    async def _connection(self) -> Any:
        if self._conn_lock is None:
            self._conn_lock = asyncio.Lock()
        if self._conn is None or self._conn.closed:
            self._conn = await self.psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self._conn

    def _fail(self, exc: Exception) -> ConfigurationStoreError:
        return ConfigurationStoreError(f"PostgreSQL table {self.table} ({self.comp.name}): {exc}")

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigItem]:
        from psycopg import sql

        for key in keys:
            if not _KEY_RE.match(key):
                # daprd's message; keys may hold letters, digits, '.', '/' and '_'
                raise ConfigurationStoreError(f"invalid key : '{key}'")
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*self.table.split(".")))
        params: list[Any] = []
        if keys:
            query = sql.SQL("{} WHERE key = ANY(%s)").format(query)
            params.append(keys)
        try:
            conn = await self._connection()
            assert self._conn_lock is not None
            async with self._conn_lock:
                cur = await asyncio.wait_for(conn.execute(query, params), self.timeout)
                rows = await cur.fetchall()
        except (self.psycopg.Error, TimeoutError) as exc:
            raise self._fail(exc) from None
        out: dict[str, ConfigItem] = {}
        for row in rows:
            key, value, version, meta = (list(row) + [None] * 4)[:4]
            item = ConfigItem(str(value or ""), str(version or ""), _metadata(meta))
            old = out.get(str(key))
            if old is None or _version_number(item.version) > _version_number(old.version):
                out[str(key)] = item
        return dict(sorted(out.items()))

    async def subscribe(self, keys: list[str], metadata: dict[str, str], notify: Notify) -> str:
        from psycopg import sql

        channel = self.channel or next(
            (v for k, v in metadata.items() if k.lower() == "pgnotifychannel"), ""
        )
        if not channel:
            raise ConfigurationStoreError(
                "notifyChannel must be set in component metadata or request metadata"
            )
        try:
            conn = await self.psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except self.psycopg.Error as exc:
            raise self._fail(exc) from None
        sub_id = str(uuid.uuid4())
        task = asyncio.get_running_loop().create_task(
            self._listen(conn, frozenset(keys), sub_id, notify)
        )
        self._subs[sub_id] = (task, conn)
        return sub_id

    async def _listen(self, conn: Any, keys: frozenset[str], sub_id: str, notify: Notify) -> None:
        try:
            async for note in conn.notifies():
                try:
                    data = _lower_keys(_lower_keys(json.loads(note.payload)).get("data"))
                except ValueError:
                    log.warning("configuration.postgresql: ignoring non-JSON notification")
                    continue
                key = str(data.get("key") or "")
                if keys and key not in keys:
                    continue
                item = ConfigItem(
                    str(data.get("value") or ""),
                    str(data.get("version") or ""),
                    _metadata(data.get("metadata")),
                )
                notify(sub_id, {key: item})
        except self.psycopg.Error as exc:
            log.error("configuration.postgresql %s: subscription stopped: %s", self.comp.name, exc)

    async def unsubscribe(self, subscription_id: str) -> bool:
        entry = self._subs.pop(subscription_id, None)
        if entry is None:
            return False
        task, conn = entry
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(Exception):
            await conn.close()
        return True

    async def set(self, items: dict[str, ConfigItem | None]) -> dict[str, ConfigItem]:
        """Write rows (funchost config set); the table's trigger notifies subscribers."""
        from psycopg import sql

        table = sql.Identifier(*self.table.split("."))
        changed: dict[str, ConfigItem] = {}
        try:
            old = await self.get([k for k in items if _KEY_RE.match(k)], {})
            conn = await self._connection()
            assert self._conn_lock is not None
            async with self._conn_lock, conn.transaction():
                for key, item in items.items():
                    if item is None:
                        cur = await conn.execute(
                            sql.SQL("DELETE FROM {} WHERE key = %s").format(table), (key,)
                        )
                        if cur.rowcount:
                            changed[key] = ConfigItem()
                        continue
                    version = item.version or str(
                        max(_version_number(old[key].version), 0) + 1 if key in old else 1
                    )
                    row = (item.value, version, json.dumps(item.metadata), key)
                    cur = await conn.execute(
                        sql.SQL(
                            "UPDATE {} SET value = %s, version = %s, metadata = %s WHERE key = %s"
                        ).format(table),
                        row,
                    )
                    if not cur.rowcount:
                        await conn.execute(
                            sql.SQL(
                                "INSERT INTO {} (value, version, metadata, key) "
                                "VALUES (%s, %s, %s, %s)"
                            ).format(table),
                            row,
                        )
                    changed[key] = ConfigItem(item.value, version, dict(item.metadata))
        except self.psycopg.Error as exc:
            raise self._fail(exc) from None
        return changed

    async def close(self) -> None:
        for sub_id in list(self._subs):
            await self.unsubscribe(sub_id)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
