"""`state.postgresql` end to end: the embedded sidecar on a real PostgreSQL, driven by the SDK's
DaprClient (gRPC) and the HTTP API; and the state query refused where daprd refuses it."""

from __future__ import annotations

import json
import time
import uuid

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateOptions

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:The State Store Query API")]

JSON = {"contentType": "application/json"}


def pg_component(dsn: str, name: str = "pgstore", extra: str = "") -> tuple[str, str]:
    """(file name, Component YAML) of a state.postgresql store on its own fresh table."""
    table = "s_" + uuid.uuid4().hex[:10]
    return (
        f"{name}.yaml",
        f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {name}}}
spec:
  type: state.postgresql
  version: v1
  metadata:
    - {{name: connectionString, value: "{dsn}"}}
    - {{name: tableName, value: {table}}}
{extra}""",
    )


@pytest.fixture
def pg(make_sidecar, postgres_dsn):
    name, text = pg_component(postgres_dsn)
    return make_sidecar(resources={name: text}, app=False)


@pytest.mark.postgres
def test_etags_first_write_bulk_and_delete(pg):
    with DaprClient(address=pg.grpc_address) as c:
        c.save_state("pgstore", "k", "v1")
        got = c.get_state("pgstore", "k")
        assert got.data == b"v1" and got.etag.isdigit()
        c.save_state("pgstore", "k", "v2", etag=got.etag)
        newer = c.get_state("pgstore", "k")
        assert newer.data == b"v2" and newer.etag != got.etag
        with pytest.raises(DaprGrpcError) as err:
            c.save_state("pgstore", "k", "stale", etag=got.etag)
        assert err.value.code() == grpc.StatusCode.ABORTED
        with pytest.raises(DaprGrpcError) as err:
            c.save_state("pgstore", "k", "x", etag="not-a-number")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        first = StateOptions(concurrency=Concurrency.first_write)
        with pytest.raises(DaprGrpcError) as err:  # daprd: "no item was updated", Internal
            c.save_state("pgstore", "k", "again", options=first)
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert "no item was updated" in str(err.value.details())
        c.save_state("pgstore", "fresh", b"\x00\xffbinary", options=first)
        bulk = {i.key: i for i in c.get_bulk_state("pgstore", ["k", "fresh", "nope"]).items}
        assert bulk["k"].data == b"v2" and bulk["fresh"].data == b"\x00\xffbinary"
        assert bulk["nope"].data == b""
        with pytest.raises(DaprGrpcError):
            c.delete_state("pgstore", "k", etag=got.etag)
        c.delete_state("pgstore", "k", etag=newer.etag)
        assert c.get_state("pgstore", "k").data == b""


@pytest.mark.postgres
def test_keys_carry_daprds_app_prefix(pg, postgres_dsn):
    import psycopg

    with DaprClient(address=pg.grpc_address) as c:
        c.save_state("pgstore", "order-1", json.dumps({"n": 1}), state_metadata=JSON)
    table = pg.sidecar.state.backends["pgstore"].table
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute(f"SELECT key, value, isbinary FROM {table}").fetchone()
    assert row == ("testapp||order-1", {"n": 1}, False)


@pytest.mark.postgres
def test_ttl_expires_on_the_database_clock(pg):
    with DaprClient(address=pg.grpc_address) as c:
        c.save_state("pgstore", "short", "v", state_metadata={"ttlInSeconds": "1"})
        assert c.get_state("pgstore", "short").data == b"v"
        got = httpx.get(f"{pg.http_url}/v1.0/state/pgstore/short")
        assert got.headers["metadata.ttlexpiretime"].endswith("Z")
        deadline = time.monotonic() + 5
        while c.get_state("pgstore", "short").data and time.monotonic() < deadline:
            time.sleep(0.2)  # the TTL runs on PostgreSQL's clock, not the sidecar's
        assert c.get_state("pgstore", "short").data == b""


@pytest.mark.postgres
def test_transactions_are_all_or_nothing(pg):
    with DaprClient(address=pg.grpc_address) as c:
        c.save_state("pgstore", "a", "1")
        etag = c.get_state("pgstore", "a").etag
        bad = [
            TransactionalStateOperation(key="b", data="2"),
            TransactionalStateOperation(key="a", data="x", etag=str(int(etag) + 1000)),
        ]
        with pytest.raises(DaprGrpcError) as err:
            c.execute_state_transaction("pgstore", bad)
        assert err.value.code() == grpc.StatusCode.ABORTED
        assert c.get_state("pgstore", "b").data == b""
        good = [
            TransactionalStateOperation(key="b", data="2"),
            TransactionalStateOperation(
                key="a", data="", etag=etag, operation_type=TransactionOperationType.delete
            ),
        ]
        c.execute_state_transaction("pgstore", good)
        assert c.get_state("pgstore", "b").data == b"2"
        assert c.get_state("pgstore", "a").data == b""


@pytest.mark.postgres
def test_query_over_grpc_and_http(pg):
    people = {f"p{i}": {"org": org, "n": i} for i, org in enumerate(["a", "b", "a", "a", "b"])}
    with DaprClient(address=pg.grpc_address) as c:
        for key, value in people.items():
            c.save_state("pgstore", key, json.dumps(value), state_metadata=JSON)
        c.save_state("pgstore", "raw", b"not json")  # binary: stored base64, never matches
        q = {
            "filter": {"EQ": {"org": "a"}},
            "sort": [{"key": "n", "order": "DESC"}],
            "page": {"limit": 2},
        }
        resp = c.query_state("pgstore", json.dumps(q))
        assert [r.key for r in resp.results] == ["p3", "p2"] and resp.token == "2"
        assert json.loads(resp.results[0].value) == {"org": "a", "n": 3}
        assert resp.results[0].etag.isdigit()
        q["page"] = {"limit": 2, "token": resp.token}
        assert [r.key for r in c.query_state("pgstore", json.dumps(q)).results] == ["p0"]
        none = c.query_state("pgstore", '{"filter": {"EQ": {"org": "zzz"}}}')
        assert none.results == [] and none.token == ""
        with pytest.raises(DaprGrpcError) as err:
            c.query_state("pgstore", '{"filter": {"NE": {"org": "a"}}}')
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert err.value.details() == (
            "state store pgstore query failed: failed to parse JSON query body: "
            'unsupported filter "NE"'
        )
        assert err.value.error_code() == "DAPR_STATE_QUERY_FAILED"

    url = f"{pg.http_url}/v1.0-alpha1/state/pgstore/query"
    body = {"filter": {"IN": {"org": ["b"]}}, "sort": [{"key": "n"}]}
    r = httpx.post(url, json=body)
    assert r.status_code == 200
    out = r.json()
    assert [i["key"] for i in out["results"]] == ["p1", "p4"] and "token" not in out
    assert out["results"][0]["data"] == {"org": "b", "n": 1} and out["results"][0]["etag"]
    assert httpx.put(url, json={"filter": {"EQ": {"org": "none"}}}).status_code == 204
    bad = httpx.post(url, content=b'{"filter": {"GT": {"org": "a"}}}')
    assert bad.status_code == 500
    assert bad.json()["errorCode"] == "ERR_STATE_QUERY"
    assert "string type not permitted" in bad.json()["message"]
    missing = httpx.post(f"{pg.http_url}/v1.0-alpha1/state/nostore/query", json={})
    assert missing.status_code == 400 and missing.json()["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"


@pytest.mark.postgres
def test_http_state_api_on_postgres(pg):
    base = f"{pg.http_url}/v1.0/state/pgstore"
    assert httpx.post(base, json=[{"key": "h", "value": {"x": [1, 2]}}]).status_code == 204
    got = httpx.get(f"{base}/h")
    assert got.json() == {"x": [1, 2]} and got.headers["etag"].isdigit()
    stale = httpx.post(base, json=[{"key": "h", "value": 1, "etag": "1"}])
    assert stale.status_code == 409 and stale.json()["errorCode"] == "ERR_STATE_SAVE"
    tx = {"operations": [{"operation": "upsert", "request": {"key": "t", "value": "s"}}]}
    assert httpx.post(f"{base}/transaction", json=tx).status_code == 204
    bulk = httpx.post(f"{base}/bulk", json={"keys": ["h", "t"]}).json()
    assert [(b["key"], b["data"]) for b in bulk] == [("h", {"x": [1, 2]}), ("t", "s")]
    assert httpx.delete(f"{base}/h", headers={"If-Match": got.headers["etag"]}).status_code == 204
    assert httpx.get(f"{base}/h").status_code == 204


@pytest.mark.postgres
def test_actor_state_store_on_postgres(make_sidecar, postgres_dsn):
    name, text = pg_component(postgres_dsn, extra='    - {name: actorStateStore, value: "true"}\n')
    h = make_sidecar(resources={name: text}, app=False)
    state = h.sidecar.state
    api = state.actor_api()
    assert api is not None and api.name == "pgstore"

    async def roundtrip() -> bytes | None:
        from funchost.sidecar.actors.state import ComponentActorState, StateOp

        actor_state = ComponentActorState(api, "testapp")
        await actor_state.transact("Counter", "c1", [StateOp("upsert", "n", b"41", None)])
        found = await actor_state.get("Counter", "c1", "n")
        return found.value if found else None

    assert h.thread.call(roundtrip()) == b"41"
    import psycopg

    table = state.backends["pgstore"].table
    with psycopg.connect(postgres_dsn) as conn:  # daprd's actor key layout, no second prefix
        keys = [r[0] for r in conn.execute(f"SELECT key FROM {table}")]
    assert keys == ["testapp||Counter||c1||n"]


def test_query_refused_where_daprd_cannot_query(make_sidecar):
    h = make_sidecar(app=False)  # the default statestore is state.sqlite
    with DaprClient(address=h.grpc_address) as c, pytest.raises(DaprGrpcError) as err:
        c.query_state("statestore", '{"filter": {"EQ": {"a": 1}}}')
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert err.value.details() == "state store does not support querying"
    assert err.value.error_code() == "DAPR_STATE_QUERYING_NOT_SUPPORTED"
    assert err.value.status_details().resource_info["resource_name"] == "statestore"
    r = httpx.post(f"{h.http_url}/v1.0-alpha1/state/statestore/query", json={})
    assert r.status_code == 500
    body = r.json()
    assert body["errorCode"] == "ERR_STATE_STORE_NOT_SUPPORTED"
    assert body["message"] == "state store does not support querying"
    # daprd's kit errors carry their details over HTTP too
    assert [d.get("reason") for d in body["details"] if "reason" in d] == [
        "DAPR_STATE_QUERYING_NOT_SUPPORTED"
    ]


@pytest.mark.redis
def test_query_refused_on_redis(make_sidecar):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    text = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: cache}
spec:
  type: state.redis
  version: v1
  metadata:
    - {name: redisHost, value: "127.0.0.1:6379"}
    - {name: keyPrefix, value: "query-refused-test"}
"""
    h = make_sidecar(resources={"cache.yaml": text}, app=False)
    r = httpx.post(f"{h.http_url}/v1.0-alpha1/state/cache/query", json={})
    assert r.status_code == 500 and r.json()["errorCode"] == "ERR_STATE_STORE_NOT_SUPPORTED"


def test_unreachable_postgres_names_the_component_field_and_fix(tmp_path):
    pytest.importorskip("psycopg", reason="psycopg 3 missing: pip install 'funchost[postgres]'")
    import asyncio

    from funchost.sidecar import free_port
    from funchost.sidecar.component import Component, ComponentError
    from funchost.sidecar.state.postgresql import PostgresStateBackend

    dsn = f"host=127.0.0.1 port={free_port()} user=postgres connect_timeout=5"
    comp = Component("pg", "state.postgresql", metadata={"connectionString": dsn}, source="pg.yaml")
    with pytest.raises(ComponentError) as info:
        asyncio.run(PostgresStateBackend(comp, "app").open())
    message = str(info.value)
    assert message.startswith("pg.yaml: Component 'pg': spec.metadata.connectionString")
    assert "Connection refused" in message and "\n" not in message
    bad = Component("pg", "state.postgresql", metadata={"url": dsn, "tableName": "x; drop"})
    with pytest.raises(ComponentError, match=r"spec\.metadata\.tableName"):
        PostgresStateBackend(bad, "app")


@pytest.mark.parametrize(
    ("mode", "namespace", "prefix"),
    [
        (None, "", "app"),
        ("appid", "", "app"),
        ("name", "", "pg"),
        ("none", "", ""),
        ("namespace", "", "app"),
        ("namespace", "prod", "prod.app"),
        ("Shared", "", "Shared"),
    ],
)
def test_key_prefix_as_daprd(mode, namespace, prefix, monkeypatch):
    from funchost.sidecar.component import Component
    from funchost.sidecar.state.postgresql import key_prefix

    monkeypatch.setenv("NAMESPACE", namespace)
    meta = {"keyPrefix": mode} if mode else {}
    assert key_prefix(Component("pg", "state.postgresql", metadata=meta), "app") == prefix
