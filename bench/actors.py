"""Actor throughput and latency: an asyncio.Lock + SQLite baseline vs calls through the sidecar.

Run from the repo root: `python bench/actors.py` (about a minute). Three processes, as in
production: the embedded sidecar (real clock, SQLite file), a `DaprActor` FastAPI app on uvicorn,
and this driver (an aiohttp client with a kept-alive session calling
`POST /v1.0/actors/BenchActor/{id}/method/Increment`). Each call: client -> sidecar (turn) -> app
-> the SDK's state manager saves through the sidecar (`PUT .../state`, one SQLite commit) -> back.

(a) baseline: in this process, one `asyncio.Lock` per id + the same SQLite upsert and commit per
    call (WAL, synchronous=NORMAL, like the sidecar store).
(b) sidecar: the same increments as actor method calls.
Both run closed-loop with 64 concurrent callers on one id, then on 100 ids; then (b) open-loop at a
paced 200 calls/s for p99. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONCURRENCY = 64
BASELINE_CALLS = 20000
SIDECAR_CALLS = 3000
PACED_RATE = 200.0
PACED_SECONDS = 10.0


# -- the app process ---------------------------------------------------------------------------
def run_app(port: int) -> None:
    """The bench actor as a funchost app (`create_app`), as `funchost run` serves it; the actor
    client comes from FUNCHOST_ACTOR_CLIENT (grpc | http)."""
    import uvicorn
    from dapr.actor import Actor, ActorInterface, actormethod

    from funchost import Settings, actor, create_app

    class BenchInterface(ActorInterface):
        @actormethod(name="Increment")
        async def increment(self, by: int) -> int: ...

    @actor
    class BenchActor(Actor, BenchInterface):
        async def increment(self, by: int) -> int:
            _, current = await self._state_manager.try_get_state("count")
            value = (current or 0) + by
            await self._state_manager.set_state("count", value)
            await self._state_manager.save_state()
            return value

    app = create_app([BenchActor], Settings(app_id="bench", app_port=port))
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", access_log=False
    )


# -- the sidecar process -----------------------------------------------------------------------
def run_sidecar(http_port: int, grpc_port: int, app_port: int, db: str) -> None:
    import uvloop

    from funchost.sidecar import Sidecar, SidecarConfig

    async def main() -> None:
        sidecar = Sidecar(
            SidecarConfig(
                app_id="bench",
                app_port=app_port,
                http_port=http_port,
                grpc_port=grpc_port,
                db_path=db,
            )
        )
        await sidecar.start()
        await asyncio.Event().wait()

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import signal

        prof = cProfile.Profile()

        def dump(*_: Any) -> None:
            prof.disable()
            prof.dump_stats(os.environ["BENCH_PROFILE"])
            os._exit(0)

        signal.signal(signal.SIGTERM, dump)
        prof.enable()
    uvloop.run(main())


# -- measurements ------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def closed_loop(call: Any, ids: list[str], total: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker(w: int) -> None:
        for n in counter:
            actor_id = ids[(w + n) % len(ids)]
            t = time.perf_counter()
            await call(actor_id)
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    return {
        "calls_per_s": round(total / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.50), 3),
        "p99_ms": round(pct(latencies, 0.99), 3),
    }


def baseline(db_path: str) -> Any:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS s (t TEXT, i TEXT, k TEXT, v BLOB, PRIMARY KEY (t, i, k))"
    )
    locks: dict[str, asyncio.Lock] = {}
    counts: dict[str, int] = {}

    async def call(actor_id: str) -> None:
        lock = locks.setdefault(actor_id, asyncio.Lock())
        async with lock:
            counts[actor_id] = counts.get(actor_id, 0) + 1
            await asyncio.sleep(0)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT OR REPLACE INTO s VALUES ('BenchActor', ?, 'count', ?)",
                (actor_id, json.dumps(counts[actor_id]).encode()),
            )
            conn.execute("COMMIT")

    return call


async def wait_hosted(session: Any, base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/v1.0/metadata") as resp:
                doc = await resp.json()
                if doc.get("actorRuntime", {}).get("hostReady"):
                    return
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the sidecar never hosted BenchActor")


async def drive(http_port: int, db: str) -> dict[str, Any]:
    import aiohttp

    base = f"http://127.0.0.1:{http_port}"
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_hosted(session, base)

        async def via_sidecar(actor_id: str) -> None:
            url = f"{base}/v1.0/actors/BenchActor/{actor_id}/method/Increment"
            async with session.post(url, data=b"1") as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"actor call failed: {resp.status}")

        ids_many = [f"many-{i}" for i in range(100)]
        await closed_loop(via_sidecar, ids_many, 400)  # warm up connections and actors
        plain = baseline(db + ".baseline")
        out: dict[str, Any] = {}
        out["a_one"] = await closed_loop(plain, ["one"], BASELINE_CALLS)
        out["a_many"] = await closed_loop(plain, ids_many, BASELINE_CALLS)
        out["b_one"] = await closed_loop(via_sidecar, ["one"], SIDECAR_CALLS)
        out["b_many"] = await closed_loop(via_sidecar, ids_many, SIDECAR_CALLS)

        latencies: list[float] = []

        async def paced_call(actor_id: str) -> None:
            t = time.perf_counter()
            await via_sidecar(actor_id)
            latencies.append(time.perf_counter() - t)

        tasks = []
        start = time.perf_counter()
        for n in range(int(PACED_RATE * PACED_SECONDS)):
            delay = start + n / PACED_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(paced_call(random.choice(ids_many))))
        await asyncio.gather(*tasks)
        out["b_paced"] = {
            "rate": PACED_RATE,
            "p50_ms": round(pct(latencies, 0.50), 3),
            "p99_ms": round(pct(latencies, 0.99), 3),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
        }
        async with session.get(f"{base}/v1.0/actors/BenchActor/one/state/count") as resp:
            out["one_count"] = json.loads(await resp.read())
        return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a child process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["driver", "app", "sidecar"], default="driver")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--app-port", type=int, default=0)
    parser.add_argument(
        "--actor-client",
        choices=["grpc", "http"],
        default=os.environ.get("FUNCHOST_ACTOR_CLIENT", "grpc"),
        help="the client the app's actor runtime uses to save state (FUNCHOST_ACTOR_CLIENT)",
    )
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    if args.role == "app":
        run_app(args.app_port)
        return
    if args.role == "sidecar":
        run_sidecar(args.http_port, args.grpc_port, args.app_port, args.db)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from funchost.sidecar import free_port

    http_port, grpc_port, app_port = free_port(), free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="bench-actors-")
    db = os.path.join(tmp, "sidecar.db")
    env = {
        **os.environ,
        "DAPR_HTTP_PORT": str(http_port),
        "DAPR_GRPC_PORT": str(grpc_port),
        "FUNCHOST_ACTOR_CLIENT": args.actor_client,
        "FUNCHOST_WORKFLOWS": "false",
    }
    me = str(Path(__file__).resolve())
    common = ["--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    common += ["--app-port", str(app_port), "--db", db]
    procs = [subprocess.Popen([sys.executable, me, "--role", "sidecar", *common], env=env)]
    time.sleep(1.0)
    procs.append(subprocess.Popen([sys.executable, me, "--role", "app", *common], env=env))
    try:
        res = asyncio.run(drive(http_port, db))
        cpu = {name: _cpu_seconds(p.pid) for name, p in zip(("sidecar", "app"), procs, strict=True)}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)

    a1, am, b1, bm, paced = res["a_one"], res["a_many"], res["b_one"], res["b_many"], res["b_paced"]
    print(f"(a) asyncio.Lock + SQLite, 1 id   : {a1}")
    print(f"(a) asyncio.Lock + SQLite, 100 ids: {am}")
    print(f"(b) via sidecar, 1 id             : {b1}")
    print(f"(b) via sidecar, 100 ids          : {bm}")
    print(f"(b) via sidecar, paced {PACED_RATE:.0f}/s     : {paced}")
    calls = 400 + 2 * SIDECAR_CALLS + int(PACED_RATE * PACED_SECONDS)
    per_call = {k: round(v / calls * 1000, 3) for k, v in cpu.items()}
    print(f"CPU ms per call (driver not counted): {per_call}")
    print(f"count on the hot id after the run: {res['one_count']} (expected {SIDECAR_CALLS})")
    summary = {
        "a_one_calls_s": a1["calls_per_s"],
        "a_many_calls_s": am["calls_per_s"],
        "b_one_calls_s": b1["calls_per_s"],
        "b_many_calls_s": bm["calls_per_s"],
        "ratio_one_id": round(b1["calls_per_s"] / a1["calls_per_s"], 4),
        "ratio_many_ids": round(bm["calls_per_s"] / am["calls_per_s"], 4),
        "many_over_one": round(bm["calls_per_s"] / b1["calls_per_s"], 3),
        "p50_ms": paced["p50_ms"],
        "p99_ms": paced["p99_ms"],
        "paced_rate": PACED_RATE,
        "one_id_count_ok": res["one_count"] == SIDECAR_CALLS,
        "actor_client": args.actor_client,
        "cpu_ms_per_call": per_call,
        "topology": "separate processes (sidecar, app, client); funchost run's"
        " (sidecar thread in the app process): bench/product.py",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
