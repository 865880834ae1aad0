"""Dead letters kept for inspection: every message a subscriber dropped or gave up on.

`record_dead_letter()` runs when pub/sub gives up on a message (whether or not the
subscription names a dead-letter topic, which still gets its copy, as with daprd), so
`funchost deadletters` and the dashboard can show its payload and reason and publish it again
(`funchost/sidecar/introspection.py` serves them). The table keeps the newest
`KEEP_DEAD_LETTERS`.
"""

from __future__ import annotations

import json

from ..store import Store

__all__ = ["DEAD_LETTER_SCHEMA", "KEEP_DEAD_LETTERS", "record_dead_letter"]

#: Dead letters kept; the oldest go first.
KEEP_DEAD_LETTERS = 10_000

DEAD_LETTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS funchost_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    dead_letter_topic TEXT NOT NULL,
    body BLOB NOT NULL,
    metadata TEXT NOT NULL,
    raw INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def record_dead_letter(
    store: Store,
    *,
    pubsub: str,
    topic: str,
    dead_letter_topic: str,
    body: bytes,
    metadata: dict[str, str],
    raw: bool,
    reason: str,
    now: float,
) -> None:
    """Keep a message a subscriber gave up on, for `funchost deadletters` and the dashboard."""
    store.ensure_schema("funchost_dead_letters", DEAD_LETTER_SCHEMA)
    with store.tx() as conn:
        cur = conn.execute(
            "INSERT INTO funchost_dead_letters"
            " (pubsub, topic, dead_letter_topic, body, metadata, raw, reason, created)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (pubsub, topic, dead_letter_topic, body, json.dumps(metadata), int(raw), reason, now),
        )
        newest = int(cur.lastrowid or 0)
        if newest > KEEP_DEAD_LETTERS:
            conn.execute(
                "DELETE FROM funchost_dead_letters WHERE id <= ?", (newest - KEEP_DEAD_LETTERS,)
            )
