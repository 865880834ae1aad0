"""Cross-app workflows: what the engine sends to other apps' sidecars, and its wire format.

daprd routes an activity or child workflow whose `WorkflowAction.router.targetAppID` names
another app to that app's daprd (actor types `dapr.internal.<ns>.<app>.activity|workflow`). The
embedded sidecar does the same over loopback (`..peers.PeerOutbox`): every message for another
app (an activity to run, a child to start, a result or completion to report, a terminate or
purge to recurse) is committed to `wf_remote_out` in the transaction of the turn that caused
it, then POSTed in batches to the target sidecar's `/funchost/internal/workflows/deliver`,
found through the local name registry. The target commits what it receives before answering
200; only then is the row deleted. While the target is not registered (or does not answer) the
row stays and is retried with backoff, so the parent waits, as under daprd.

Envelope kinds: `activity` (an `ActivityRequest`; idempotent on the target by source app,
instance, execution and task id, kept in `wf_remote_seen`), `event` (a `HistoryEvent` for an
instance's inbox: results, child completions, terminations), `start` (a child's
`executionStarted`), `purge` (recursive purge of a child).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ..peers import PeerOutbox
from ..store import Store

DELIVER_PATH = "/funchost/internal/workflows/deliver"

SCHEMA = """
CREATE TABLE IF NOT EXISTS wf_remote_seen (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_activity_origin (
    activity_id INTEGER PRIMARY KEY, source_app TEXT NOT NULL
);
"""


def envelope(
    kind: str,
    instance: str,
    payload: bytes,
    execution: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """One message for another app; `sender` is the local instance that waits on it."""
    return {
        "kind": kind,
        "instance": instance,
        "execution": execution,
        "sender": sender,
        "payload": base64.b64encode(payload).decode(),
    }


def payload_of(env: dict[str, Any]) -> bytes:
    return base64.b64decode(env["payload"])


def remote_outbox(
    store: Store, app_id: str, namespace: str, registry_dir: Path | str | None
) -> PeerOutbox:
    """The workflow engine's outbox for other apps (`wf_remote_out`)."""
    store.ensure_schema("workflows-remote", SCHEMA)
    return PeerOutbox(store, "wf_remote_out", DELIVER_PATH, app_id, namespace, registry_dir)
