"""The local outbox: output-binding calls the embedded sidecar does not deliver (Kafka, SMTP...).

Each call is recorded in `binding_outbox` so a developer can see what would have been sent:
`funchost outbox` (via `runner.list_outbox`), `GET /funchost/v1/outbox` on the sidecar, or
`list_outbox(store)` in Python.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS binding_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    binding TEXT NOT NULL,
    type TEXT NOT NULL,
    operation TEXT NOT NULL,
    data BLOB NOT NULL,
    metadata TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def record(
    store: Store,
    binding: str,
    type_: str,
    operation: str,
    data: bytes,
    metadata: dict[str, str],
    now: float,
) -> int:
    """Commit one output call to the outbox; returns its id."""
    store.ensure_schema("binding_outbox", SCHEMA)
    with store.tx() as conn:
        cur = conn.execute(
            "INSERT INTO binding_outbox(binding, type, operation, data, metadata, created)"
            " VALUES (?,?,?,?,?,?)",
            (binding, type_, operation, data, json.dumps(metadata), now),
        )
        return int(cur.lastrowid or 0)


def _data_repr(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"data_base64": base64.b64encode(data).decode()}
    try:
        return {"data": json.loads(text)}
    except ValueError:
        return {"data": text}


def list_outbox(
    store: Store, binding: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Recorded calls, oldest first: id, binding, type, operation, data|data_base64, metadata."""
    store.ensure_schema("binding_outbox", SCHEMA)
    sql = "SELECT * FROM binding_outbox"
    params: list[Any] = []
    if binding:
        sql += " WHERE binding=?"
        params.append(binding)
    sql += " ORDER BY id LIMIT ?"
    params.append(limit)
    out = []
    for row in store.query(sql, params):
        entry = {
            "id": row["id"],
            "binding": row["binding"],
            "type": row["type"],
            "operation": row["operation"],
            "metadata": json.loads(row["metadata"]),
            "created": row["created"],
        }
        entry.update(_data_repr(bytes(row["data"])))
        out.append(entry)
    return out
