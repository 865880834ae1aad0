"""`configuration.sqlite`: the embedded configuration store, in the sidecar's own database.

Works with nothing installed. Items live in table `configuration_items` (one row per store and
key). Dapr has no API to write configuration, so items are set with `funchost config set`: on a
running sidecar through `PUT /funchost/v1/configuration/<store>` (which notifies subscribers at
once), or straight into the database file when the app is stopped (`set_items` below).
A version left empty on a write becomes the previous numeric version plus one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from ..store import Store
from ._store import ConfigItem, Notify

SCHEMA = """
CREATE TABLE IF NOT EXISTS configuration_items (
    store TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (store, key)
);
"""


def _next_version(previous: str | None) -> str:
    try:
        return str(int(previous or "0") + 1)
    except ValueError:
        return "1"


def read_items(store: Store, name: str, keys: list[str]) -> dict[str, ConfigItem]:
    """Items of configuration store `name` (all when `keys` is empty), sorted by key."""
    store.ensure_schema("configuration", SCHEMA)
    sql = "SELECT key, value, version, metadata FROM configuration_items WHERE store = ?"
    params: list[str] = [name]
    if keys:
        sql += f" AND key IN ({','.join('?' * len(keys))})"
        params.extend(keys)
    rows = store.query(sql + " ORDER BY key", params)
    return {
        r["key"]: ConfigItem(r["value"], r["version"], json.loads(r["metadata"] or "{}"))
        for r in rows
    }


def set_items(
    store: Store, name: str, items: Mapping[str, ConfigItem | None]
) -> dict[str, ConfigItem]:
    """Write (or delete, for None) items in one transaction; return what changed, as stored.

    A deleted key maps to an empty `ConfigItem` (what daprd's Redis store reports for a key
    that is gone).
    """
    store.ensure_schema("configuration", SCHEMA)
    changed: dict[str, ConfigItem] = {}
    with store.tx() as conn:
        for key, item in items.items():
            if item is None:
                cur = conn.execute(
                    "DELETE FROM configuration_items WHERE store = ? AND key = ?", (name, key)
                )
                if cur.rowcount:
                    changed[key] = ConfigItem()
                continue
            version = item.version
            if not version:
                row = conn.execute(
                    "SELECT version FROM configuration_items WHERE store = ? AND key = ?",
                    (name, key),
                ).fetchone()
                version = _next_version(row["version"] if row else None)
            stored = ConfigItem(item.value, version, dict(item.metadata))
            conn.execute(
                "INSERT INTO configuration_items (store, key, value, version, metadata) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store, key) DO UPDATE SET "
                "value = excluded.value, version = excluded.version, metadata = excluded.metadata",
                (name, key, stored.value, stored.version, json.dumps(stored.metadata)),
            )
            changed[key] = stored
    return changed


class SqliteConfigurationStore:
    """The embedded store: reads and writes the sidecar's database, notifies in process."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self._subs: dict[str, tuple[frozenset[str], Notify]] = {}
        store.ensure_schema("configuration", SCHEMA)

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigItem]:
        return read_items(self.store, self.name, keys)

    async def subscribe(self, keys: list[str], metadata: dict[str, str], notify: Notify) -> str:
        sub_id = str(uuid.uuid4())
        self._subs[sub_id] = (frozenset(keys), notify)
        return sub_id

    async def unsubscribe(self, subscription_id: str) -> bool:
        return self._subs.pop(subscription_id, None) is not None

    async def close(self) -> None:
        self._subs.clear()

    def set(self, items: Mapping[str, ConfigItem | None]) -> dict[str, ConfigItem]:
        """Write items and notify every subscription watching a changed key (one event each)."""
        changed = set_items(self.store, self.name, items)
        for sub_id, (keys, notify) in list(self._subs.items()):
            # one event per changed key, as a store sees one change at a time
            for key, item in changed.items():
                if not keys or key in keys:
                    notify(sub_id, {key: item})
        return changed
