"""The transactional outbox: a state transaction publishes its upserts (daprd's outbox.go), in one
SQLite transaction with the embedded broker, through marker keys on PostgreSQL; and a kill -9
between commit and delivery still delivers the message once after restart."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType

from funchost.sidecar import free_port

from .conftest import AppServer, RecordingApp

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:The State Store Query API")]

SUBSCRIPTION = [{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]


def outbox_store(type_: str = "state.sqlite", extra: str = "") -> str:
    return f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: orders}}
spec:
  type: {type_}
  version: v1
  metadata:
    - {{name: outboxPublishPubsub, value: pubsub}}
    - {{name: outboxPublishTopic, value: orders}}
{extra}"""


def _transact(address: str) -> None:
    with DaprClient(address=address) as c:
        c.execute_state_transaction(
            "orders",
            [
                TransactionalStateOperation(
                    key="o1",
                    data=json.dumps({"id": 1, "total": 10}),
                    metadata={"contentType": "application/json", "outbox.cloudevent.myapp": "x"},
                ),
                TransactionalStateOperation(key="o2", data="secret internal value"),
                TransactionalStateOperation(
                    key="o2",
                    data=json.dumps({"id": 2, "public": True}),
                    metadata={"outbox.projection": "true", "contentType": "application/json"},
                ),
                TransactionalStateOperation(
                    key="gone", data="", operation_type=TransactionOperationType.delete
                ),
            ],
        )


def _check_events(events: list[dict], address: str) -> None:
    by_data = {json.dumps(e["data"], sort_keys=True): e for e in events}
    assert set(by_data) == {
        json.dumps({"id": 1, "total": 10}, sort_keys=True),
        json.dumps({"id": 2, "public": True}, sort_keys=True),
    }
    for e in events:
        assert e["id"].startswith("outbox-") and e["topic"] == "orders"
        assert e["pubsubname"] == "pubsub" and e["datacontenttype"] == "application/json"
        assert e["type"] == "com.dapr.event.sent" and e["source"]
    assert (
        by_data[json.dumps({"id": 1, "total": 10}, sort_keys=True)]["outbox.cloudevent.myapp"]
        == "x"
    )
    with DaprClient(address=address) as c:  # the projection is published, not stored
        assert c.get_state("orders", "o2").data == b"secret internal value"
        assert json.loads(c.get_state("orders", "o1").data) == {"id": 1, "total": 10}


def test_outbox_publishes_upserts_in_the_same_sqlite_transaction(make_sidecar, recording_app):
    recording_app.subscriptions = SUBSCRIPTION
    h = make_sidecar(resources={"orders.yaml": outbox_store()})
    _transact(h.grpc_address)
    got = recording_app.wait_for("/orders", 2)
    _check_events([r.json() for r in got], h.grpc_address)
    # a failed transaction publishes nothing
    with DaprClient(address=h.grpc_address) as c, pytest.raises(DaprGrpcError) as err:
        c.execute_state_transaction(
            "orders",
            [
                TransactionalStateOperation(key="o3", data="x"),
                TransactionalStateOperation(key="o1", data="y", etag="999"),
            ],
        )
    assert err.value.code() == grpc.StatusCode.ABORTED
    # HTTP transactions too; a single save is never published
    tx = {"operations": [{"operation": "upsert", "request": {"key": "h", "value": "hi"}}]}
    assert httpx.post(f"{h.http_url}/v1.0/state/orders/transaction", json=tx).status_code == 204
    assert httpx.post(f"{h.http_url}/v1.0/state/orders", json=[{"key": "s", "value": 1}])
    h.idle()
    events = [r.json() for r in recording_app.wait_for("/orders", 3)]
    assert len(events) == 3 and events[-1]["data"] == "hi"
    assert events[-1]["datacontenttype"] == "text/plain"


def test_outbox_without_its_pubsub_fails_the_transaction(make_sidecar):
    text = outbox_store().replace("value: pubsub}", "value: nosuchpubsub}")
    h = make_sidecar(resources={"orders.yaml": text}, app=False)
    tx = {"operations": [{"operation": "upsert", "request": {"key": "k", "value": 1}}]}
    r = httpx.post(f"{h.http_url}/v1.0/state/orders/transaction", json=tx)
    assert r.status_code == 500 and r.json()["errorCode"] == "ERR_PUBLISH_OUTBOX"


@pytest.mark.postgres
def test_outbox_on_postgres_publishes_after_commit(make_sidecar, recording_app, postgres_dsn):
    recording_app.subscriptions = SUBSCRIPTION
    extra = (
        f'    - {{name: connectionString, value: "{postgres_dsn}"}}\n'
        f"    - {{name: tableName, value: ob_{uuid.uuid4().hex[:8]}}}\n"
    )
    h = make_sidecar(resources={"orders.yaml": outbox_store("state.postgresql", extra)})
    _transact(h.grpc_address)
    got = recording_app.wait_for("/orders", 2)
    _check_events([r.json() for r in got], h.grpc_address)
    h.idle()
    with DaprClient(address=h.grpc_address) as c:  # markers are removed after publishing
        query = c.query_state("orders", "{}")
    assert not [r.key for r in query.results if r.key.startswith("outbox-")]
    pending = h.sidecar.store.query("SELECT COUNT(*) AS n FROM state_outbox_pending")
    assert pending[0]["n"] == 0


def _start_sidecar(db: Path, res: Path, app_port: int, http: int, grpc_port: int):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "funchost.sidecar.runner",
            "--app-id",
            "outboxapp",
            "--app-port",
            str(app_port),
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc_port),
            "--db",
            str(db),
            "--resources-path",
            str(res),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["grpc"] == grpc_port
    return proc


@pytest.mark.slow
def test_kill9_between_commit_and_delivery_still_delivers_once(tmp_path, monkeypatch):
    res = tmp_path / "resources"
    res.mkdir()
    (res / "orders.yaml").write_text(outbox_store())
    db = tmp_path / "sidecar.db"
    app_port, http, grpc_port = free_port(), free_port(), free_port()
    monkeypatch.setenv("DAPR_HTTP_PORT", str(http))
    # No app yet: the committed message waits in the outbox, undelivered, when the kill comes.
    proc = _start_sidecar(db, res, app_port, http, grpc_port)
    try:
        _transact(f"127.0.0.1:{grpc_port}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with sqlite3.connect(db) as conn:  # committed together: state and both messages
        assert conn.execute("SELECT COUNT(*) FROM pubsub_outbox").fetchone()[0] == 2

    app = RecordingApp(subscriptions=SUBSCRIPTION)
    server = AppServer(app.asgi(), port=app_port).start()
    proc = _start_sidecar(db, res, app_port, http, grpc_port)
    try:
        got = app.wait_for("/orders", 2, timeout=30)
        _check_events([r.json() for r in got], f"127.0.0.1:{grpc_port}")
    finally:
        proc.terminate()
        proc.wait(10)
        server.stop()
    assert len(app.at("/orders")) == 2  # once each
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM pubsub_outbox").fetchone()[0] == 0


@pytest.mark.postgres
def test_outbox_recovery_publishes_only_committed_transactions(
    make_sidecar, recording_app, postgres_dsn, tmp_path
):
    """A crash after PostgreSQL committed (marker present) publishes at start; a crash before
    the commit (no marker) drops the recorded event."""
    import psycopg

    from funchost.sidecar.state.outbox import SCHEMA

    table = f"ob_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (key text NOT NULL PRIMARY KEY, value jsonb NOT NULL, "
            "isbinary boolean NOT NULL, insertdate timestamptz NOT NULL DEFAULT now(), "
            "updatedate timestamptz, expiredate timestamptz)"
        )
        # daprd's marker keys carry no app prefix
        conn.execute(f"INSERT INTO {table} VALUES ('outbox-a', '\"MA==\"', true)")
    with sqlite3.connect(tmp_path / "sidecar.db") as db:
        db.executescript(SCHEMA)
        for marker in ("outbox-a", "outbox-b"):
            event = {
                "id": marker, "source": "testapp", "type": "com.dapr.event.sent",
                "specversion": "1.0", "datacontenttype": "text/plain", "topic": "orders",
                "pubsubname": "pubsub", "data": marker,
            }  # fmt: skip
            db.execute(
                "INSERT INTO state_outbox_pending(store, marker, pubsub, topic, body) "
                "VALUES ('orders', ?, 'pubsub', 'orders', ?)",
                (marker, json.dumps(event).encode()),
            )
    recording_app.subscriptions = SUBSCRIPTION
    extra = (
        f'    - {{name: connectionString, value: "{postgres_dsn}"}}\n'
        f"    - {{name: tableName, value: {table}}}\n"
    )
    h = make_sidecar(resources={"orders.yaml": outbox_store("state.postgresql", extra)})
    got = recording_app.wait_for("/orders", 1)
    h.idle()
    assert [r.json()["data"] for r in recording_app.at("/orders")] == ["outbox-a"]
    assert got[0].json()["id"] == "outbox-a"
    pending = h.sidecar.store.query("SELECT COUNT(*) AS n FROM state_outbox_pending")
    assert pending[0]["n"] == 0
    with psycopg.connect(postgres_dsn) as conn:  # the marker is removed once published
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_outbox_transaction_waits_out_a_lock_held_elsewhere_and_publishes_once(
    make_sidecar, recording_app, tmp_path
):
    """The state API's quick-lock retries (prod) on the outbox path: a transaction that meets a
    write lock held by another connection is retried whole, commits once, publishes once."""
    recording_app.subscriptions = SUBSCRIPTION
    h = make_sidecar(resources={"orders.yaml": outbox_store()})
    other = sqlite3.connect(tmp_path / "sidecar.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database's write lock
    tx = {"operations": [{"operation": "upsert", "request": {"key": "locked", "value": 7}}]}
    with httpx.Client(base_url=h.http_url, timeout=30) as client:
        result: dict[str, httpx.Response] = {}
        writer = threading.Thread(
            target=lambda: result.update(r=client.post("/v1.0/state/orders/transaction", json=tx))
        )
        writer.start()
        writer.join(0.5)  # the lock is held past the sidecar's quick busy timeout
        assert writer.is_alive(), "the transaction did not wait for the lock"
        assert client.get("/v1.0/healthz").status_code == 204  # the loop stays free meanwhile
        other.execute("COMMIT")
        other.close()
        writer.join(30)
    assert result["r"].status_code == 204, result["r"].text
    recording_app.wait_for("/orders", 1)
    h.idle()
    assert [r.json()["data"] for r in recording_app.at("/orders")] == ["7"]  # once, not retried
    with DaprClient(address=h.grpc_address) as c:
        assert c.get_state("orders", "locked").data == b"7"
