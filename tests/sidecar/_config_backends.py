"""The configuration stores the e2e tests run against, each with a native way to write items.

- embedded: `configuration.sqlite` (the default `configstore`), written through the sidecar's
  `PUT /funchost/v1/configuration/<store>` (what `funchost config set` calls);
- redis: `configuration.redis` on 127.0.0.1:6379, written with `SET key "value||version"`;
- postgresql: `configuration.postgresql` on a throwaway cluster, a fresh table + the notify
  trigger from Dapr's docs, written with UPDATE/INSERT.
Keys are unique per test (`fh_cfg_<hex>_<name>`): Redis is shared with other engineers.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

# the trigger from Dapr's docs (postgresql-configuration-store.md), with the channel filled in
TRIGGER = """
CREATE OR REPLACE FUNCTION {table}_notify() RETURNS TRIGGER AS $$
    DECLARE
        data json;
        notification json;
    BEGIN
        IF (TG_OP = 'DELETE') THEN
            data = row_to_json(OLD);
        ELSE
            data = row_to_json(NEW);
        END IF;
        notification = json_build_object('table', TG_TABLE_NAME, 'action', TG_OP, 'data', data);
        PERFORM pg_notify('{channel}', notification::text);
        RETURN NULL;
    END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_trigger AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE PROCEDURE {table}_notify();
"""


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ConfigBackend:
    """A configuration store under test: its component YAML and a native writer."""

    kind: str
    store: str
    resources: dict[str, str]
    tag: str
    native_set: Callable[[str, str, str], None] = lambda k, v, ver: None
    http_url: str = ""
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    has_metadata: bool = True

    def key(self, name: str) -> str:
        return f"fh_cfg_{self.tag}_{name}"

    def set(self, key: str, value: str, version: str) -> None:
        """Write one item the way its store is written outside Dapr."""
        if self.kind == "embedded":
            resp = httpx.put(
                f"{self.http_url}/funchost/v1/configuration/{self.store}",
                json={key: {"value": value, "version": version}},
            )
            resp.raise_for_status()
        else:
            self.native_set(key, value, version)


def make_backend(kind: str, request: pytest.FixtureRequest) -> ConfigBackend:
    tag = uuid.uuid4().hex[:8]
    if kind == "embedded":
        return ConfigBackend(kind, "configstore", {}, tag)
    if kind == "redis":
        redis = pytest.importorskip("redis")
        if not redis_up():
            pytest.skip("no Redis server on 127.0.0.1:6379")
        client = redis.Redis(host="127.0.0.1", port=6379)
        yaml = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redisconfig}
spec:
  type: configuration.redis
  metadata:
    - {name: redisHost, value: "127.0.0.1:6379"}
"""
        backend = ConfigBackend(
            kind,
            "redisconfig",
            {"config.yaml": yaml},
            tag,
            native_set=lambda k, v, ver: client.set(k, f"{v}||{ver}"),
            has_metadata=False,
        )

        def drop() -> None:
            for key in client.scan_iter(f"fh_cfg_{tag}_*"):
                client.delete(key)
            client.close()

        backend.cleanup.append(drop)
        return backend
    dsn = request.getfixturevalue("postgres_dsn")
    import psycopg

    table = f"cfg_{tag}"
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(
        f"CREATE TABLE {table} (KEY VARCHAR NOT NULL, VALUE VARCHAR NOT NULL, "
        "VERSION VARCHAR NOT NULL, METADATA JSON)"
    )
    conn.execute(TRIGGER.format(table=table, channel=f"ch_{tag}"))

    def pg_set(key: str, value: str, version: str) -> None:
        meta = json.dumps({"source": "test"})
        cur = conn.execute(
            f"UPDATE {table} SET value = %s, version = %s, metadata = %s WHERE key = %s",
            (value, version, meta, key),
        )
        if not cur.rowcount:
            conn.execute(
                f"INSERT INTO {table} (key, value, version, metadata) VALUES (%s, %s, %s, %s)",
                (key, value, version, meta),
            )

    yaml = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: pgconfig}}
spec:
  type: configuration.postgresql
  metadata:
    - {{name: connectionString, value: "{dsn}"}}
    - {{name: table, value: "{table}"}}
    - {{name: pgNotifyChannel, value: "ch_{tag}"}}
"""
    backend = ConfigBackend(kind, "pgconfig", {"config.yaml": yaml}, tag, native_set=pg_set)

    def drop_table() -> None:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()

    backend.cleanup.append(drop_table)
    return backend


def items_of(resp: Any) -> dict[str, tuple[str, str]]:
    """SDK ConfigurationResponse -> {key: (value, version)}."""
    return {k: (v.value, v.version) for k, v in resp.items.items()}
