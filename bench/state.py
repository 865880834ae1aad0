"""State benchmark: save/get/query ops/s through the embedded sidecar, beside raw driver writes.

The sidecar runs as its own process (as `funchost run` does) with two stores: `statestore`
(state.sqlite, the default) and `pgstore` (state.postgresql). The async Dapr SDK client drives
`--ops` saves then gets (and, on PostgreSQL, `--queries` state queries) with `--concurrency` calls
in flight. Beside them, the same writes with the raw drivers at the same durability: sqlite3 in
WAL with synchronous=NORMAL, one transaction per write (the sidecar's settings), and psycopg's
async pool running the sidecar's upsert. PostgreSQL is FUNCHOST_TEST_POSTGRES_DSN or a throwaway
cluster (initdb/pg_ctl, as the tests start one); without either its figures are null.
The last line is one JSON object.

    python bench/state.py [--ops 2000] [--queries 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import wait_http

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JSON = {"contentType": "application/json"}
STATUSES = ("new", "paid", "shipped", "returned")


@contextmanager
def postgres() -> Iterator[str | None]:
    """A DSN (FUNCHOST_TEST_POSTGRES_DSN or a throwaway cluster), or None with the reason shown."""
    if os.environ.get("FUNCHOST_TEST_POSTGRES_DSN"):
        yield os.environ["FUNCHOST_TEST_POSTGRES_DSN"]
        return
    from tests._postgres import postgres_dsn

    gen = postgres_dsn()
    try:
        dsn = next(gen)
    except BaseException as exc:  # pytest.skip's exception: binaries or psycopg missing
        print(f"PostgreSQL not available: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield dsn
    finally:
        gen.close()


def resources(folder: Path, dsn: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "statestore.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: statestore}\n"
        "spec: {type: state.sqlite, version: v1, metadata: []}\n"
    )
    if dsn:
        (folder / "pgstore.yaml").write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pgstore}\n"
            "spec:\n  type: state.postgresql\n  version: v1\n  metadata:\n"
            f'    - {{name: connectionString, value: "{dsn}"}}\n'
            "    - {name: tableName, value: bench_state}\n"
        )


def order(i: int) -> dict[str, Any]:
    return {"id": i, "status": STATUSES[i % len(STATUSES)], "total": i * 3, "note": "x" * 64}


async def rate(n: int, concurrency: int, call: Callable[[int], Awaitable[Any]]) -> float:
    """Operations per second for `call(0..n-1)` with `concurrency` in flight."""
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            await call(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def through_sidecar(grpc: str, store: str, args: argparse.Namespace) -> dict[str, float]:
    import warnings

    from dapr.aio.clients import DaprClient

    warnings.simplefilter("ignore", UserWarning)  # "the query API is alpha"
    out: dict[str, float] = {}
    async with DaprClient(address=grpc) as client:
        for i in range(50):  # warm-up
            await client.save_state(store, f"w{i}", json.dumps(order(i)), state_metadata=JSON)

        async def save(i: int) -> None:
            await client.save_state(store, f"o{i}", json.dumps(order(i)), state_metadata=JSON)

        async def get(i: int) -> None:
            assert (await client.get_state(store, f"o{i}")).data

        out["save"] = await rate(args.ops, args.concurrency, save)
        out["get"] = await rate(args.ops, args.concurrency, get)
        if store == "pgstore":
            query = json.dumps({"filter": {"EQ": {"status": "paid"}}, "page": {"limit": 10}})

            async def run_query(i: int) -> None:
                assert (await client.query_state(store, query)).results

            out["query"] = await rate(args.queries, args.concurrency, run_query)
    return out


def raw_sqlite(path: Path, n: int) -> float:
    """sqlite3 writes at the sidecar's settings: WAL, synchronous=NORMAL, one commit each."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB, version INTEGER)"
    )
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO kv VALUES (?,?,1) ON CONFLICT(key) DO UPDATE SET "
            "value=excluded.value, version=kv.version+1",
            (f"o{i}", json.dumps(order(i)).encode()),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def raw_postgres(dsn: str, n: int, concurrency: int) -> float:
    """psycopg async pool running state.postgresql's upsert, `concurrency` in flight."""
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(
        dsn, min_size=concurrency, max_size=concurrency, kwargs={"autocommit": True}
    ) as pool:
        async with pool.connection() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_raw (key text PRIMARY KEY, value jsonb NOT NULL,"
                " isbinary boolean NOT NULL, insertdate timestamptz NOT NULL DEFAULT now(),"
                " updatedate timestamptz, expiredate timestamptz)"
            )

        async def save(i: int) -> None:
            async with pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO bench_raw AS t (key, value, isbinary, expiredate) "
                    "VALUES (%s, %s::jsonb, false, NULL) ON CONFLICT (key) DO UPDATE SET "
                    "value = excluded.value, isbinary = excluded.isbinary, "
                    "updatedate = CURRENT_TIMESTAMP, expiredate = NULL",
                    (f"o{i}", json.dumps(order(i))),
                )

        return await rate(n, concurrency, save)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from funchost.sidecar import free_port

    tmp = Path(tempfile.mkdtemp(prefix="funchost-bench-state-"))
    with postgres() as dsn:
        resources(tmp / "resources", dsn)
        http_port, grpc_port = free_port(), free_port()
        env = {**os.environ, "DAPR_HTTP_PORT": str(http_port), "DAPR_GRPC_PORT": str(grpc_port)}
        os.environ.update(env)  # the SDK client's health check reads DAPR_HTTP_PORT
        sidecar = subprocess.Popen(
            [
                sys.executable, "-m", "funchost.sidecar.runner", "--app-id", "bench",
                "--http-port", str(http_port), "--grpc-port", str(grpc_port),
                "--db", str(tmp / "sidecar.db"), "--resources-path", str(tmp / "resources"),
            ],
            env=env, stdout=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{http_port}/v1.0/healthz")
            grpc = f"127.0.0.1:{grpc_port}"
            sqlite_side = asyncio.run(through_sidecar(grpc, "statestore", args))
            pg_side = asyncio.run(through_sidecar(grpc, "pgstore", args)) if dsn else {}
        finally:
            sidecar.terminate()
            sidecar.wait(15)
        sqlite_raw = raw_sqlite(tmp / "raw.db", args.ops)
        pg_raw = asyncio.run(raw_postgres(dsn, args.ops, args.concurrency)) if dsn else None

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    print(f"ops: {args.ops} saves/gets, {args.queries} queries, {args.concurrency} in flight")
    print(
        f"state.sqlite via sidecar: save {sqlite_side['save']:,.0f}/s, "
        f"get {sqlite_side['get']:,.0f}/s; raw sqlite3 writes {sqlite_raw:,.0f}/s"
    )
    if dsn:
        print(
            f"state.postgresql via sidecar: save {pg_side['save']:,.0f}/s, "
            f"get {pg_side['get']:,.0f}/s, query {pg_side['query']:,.0f}/s; "
            f"raw psycopg writes {pg_raw:,.0f}/s"
        )
    print(
        json.dumps(
            {
                "sqlite_save_per_s": r(sqlite_side["save"]),
                "sqlite_get_per_s": r(sqlite_side["get"]),
                "sqlite_raw_write_per_s": r(sqlite_raw),
                "pg_save_per_s": r(pg_side.get("save")),
                "pg_get_per_s": r(pg_side.get("get")),
                "pg_query_per_s": r(pg_side.get("query")),
                "pg_raw_write_per_s": r(pg_raw),
                "ops": args.ops,
                "queries": args.queries,
                "concurrency": args.concurrency,
            }
        )
    )


if __name__ == "__main__":
    main()
