"""Distributed lock and Configuration API round trips through the embedded sidecar.

Run from the repo root: `python bench/locks.py` (about 30 seconds). Two processes: the embedded
sidecar (`python -m funchost.sidecar.runner`, real clock, SQLite file) and this driver, which
uses the Dapr SDK's async gRPC client with 16 concurrent callers, each on its own resource.

(a) lock.sqlite (the embedded default): TryLockAlpha1 + UnlockAlpha1 pairs per second, beside a
    baseline of the same two SQLite write transactions in this process (WAL, synchronous=NORMAL).
(b) lock.redis (when Redis answers on 127.0.0.1:6379): the same pairs, beside raw redis-py
    `SET NX PX` + the unlock script from one asyncio client.
(c) GetConfiguration calls per second on the embedded store (2 keys).
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

CALLERS = 16
SECONDS = 4.0
UNLOCK = (
    'local v = redis.call("get",KEYS[1]); if v==false then return -1 end; '
    'if v~=ARGV[1] then return -2 else return redis.call("del",KEYS[1]) end'
)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


async def _closed_loop(op: Any) -> float:
    """Calls per second of `op(caller)` run by CALLERS callers for SECONDS."""
    done = 0
    stop = time.perf_counter() + SECONDS

    async def caller(n: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await op(n)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    return done / (time.perf_counter() - start)


def _sqlite_baseline(path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE locks (key TEXT PRIMARY KEY, owner TEXT, expires REAL)")
    n, stop = 0, time.perf_counter() + SECONDS
    start = time.perf_counter()
    while time.perf_counter() < stop:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR IGNORE INTO locks VALUES (?, ?, ?)", ("r", "o", time.time() + 30))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM locks WHERE key = ? AND owner = ?", ("r", "o"))
        conn.execute("COMMIT")
        n += 1
    conn.close()
    return n / (time.perf_counter() - start)


async def _redis_baseline(prefix: str) -> float:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=6379)
    unlock = client.register_script(UNLOCK)

    async def pair(n: int) -> None:
        key = f"{prefix}-base-{n}"
        await client.set(key, "o", nx=True, px=30000)
        await unlock(keys=[key], args=["o"])

    try:
        return await _closed_loop(pair)
    finally:
        await client.aclose()


async def _through_sidecar(grpc_port: int, prefix: str, redis: bool) -> dict[str, float]:
    from dapr.aio.clients import DaprClient

    out: dict[str, float] = {}
    async with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:

        def pair_on(store: str) -> Any:
            async def pair(n: int) -> None:
                resource = f"{prefix}-{n}"
                resp = await client.try_lock(store, resource, f"owner-{n}", 30)
                assert resp.success
                await client.unlock(store, resource, f"owner-{n}")

            return pair

        out["lock_sqlite_pairs_per_s"] = await _closed_loop(pair_on("lockstore"))
        if redis:
            out["lock_redis_pairs_per_s"] = await _closed_loop(pair_on("redislock"))

        async def get(n: int) -> None:
            await client.get_configuration("configstore", ["a", "b"])

        out["config_get_per_s"] = await _closed_loop(get)
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    redis = _redis_up()
    prefix = f"fhbench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "resources"
        res.mkdir()
        if redis:
            (res / "lock.yaml").write_text(
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: redislock}\n"
                "spec:\n  type: lock.redis\n  metadata:\n"
                "    - {name: redisHost, value: '127.0.0.1:6379'}\n"
                f"    - {{name: keyPrefix, value: '{prefix}'}}\n"
                "---\napiVersion: dapr.io/v1alpha1\nkind: Component\n"
                "metadata: {name: lockstore}\nspec: {type: lock.sqlite}\n"
            )
        cmd = [
            sys.executable, "-m", "funchost.sidecar.runner", "--app-id", "bench",
            "--http-port", "0", "--grpc-port", "0", "--db", str(Path(tmp) / "sidecar.db"),
            "--resources-path", str(res),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        try:
            assert proc.stdout is not None
            ports = json.loads(proc.stdout.readline())
            import httpx

            httpx.put(
                f"http://127.0.0.1:{ports['http']}/funchost/v1/configuration/configstore",
                json={"a": "1", "b": "2"},
            ).raise_for_status()
            os.environ["DAPR_HTTP_PORT"] = str(ports["http"])  # the SDK's health check
            result: dict[str, Any] = {"callers": CALLERS, "seconds_per_run": SECONDS}
            result.update(asyncio.run(_through_sidecar(ports["grpc"], prefix, redis)))
        finally:
            proc.terminate()
            proc.wait(10)
        result["baseline_sqlite_pairs_per_s"] = _sqlite_baseline(Path(tmp) / "baseline.db")
    if redis:
        result["baseline_redis_pairs_per_s"] = asyncio.run(_redis_baseline(prefix))
    for key, value in result.items():
        if isinstance(value, float):
            result[key] = round(value, 1)
            print(f"{key:32} {value:10.1f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
