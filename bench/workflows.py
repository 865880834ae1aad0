"""Workflow engine benchmark: `python bench/workflows.py` (from the repo root).

(a) baseline: a plain loop calling the same no-op activity with one synced SQLite insert per
    step (WAL, synchronous=FULL: an fsync per commit); the same loop with synchronous=NORMAL (what
    the sidecar's store uses: kill -9 safe, no fsync per commit) is printed for context;
(b) 200 workflows x 5 chained no-op activities through the embedded sidecar;
(c) one workflow fanning out 1,000 async activities that each sleep 1 s.
The sidecar, the SDK worker and the client run in three processes (NOT `funchost run`'s topology,
where the sidecar is a thread of the app process: bench/product.py measures that). `ratio` is
against the baseline at the store's own durability (synchronous=NORMAL); the fsync-per-commit
ratio is printed too. Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

N_WORKFLOWS = 200
CHAIN = 5
FANOUT = 1000


# -- activities and workflows (worker process) -----------------------------------------------


def noop(ctx: Any, x: Any) -> Any:
    return x


async def nap(ctx: Any, x: Any) -> Any:
    await asyncio.sleep(1.0)
    return x


def chain(ctx: Any, x: Any) -> Any:
    for i in range(CHAIN):
        x = yield ctx.call_activity(noop, input=i)
    return x


def fan(ctx: Any, n: int) -> Any:
    import dapr.ext.workflow as wf

    results = yield wf.when_all([ctx.call_activity(nap, input=i) for i in range(n)])
    return len(results)


def role_worker(port: str) -> None:
    import logging

    import dapr.ext.workflow as wf
    from dapr.ext.workflow.logger import LoggerOptions

    rt = wf.WorkflowRuntime(
        host="127.0.0.1",
        port=port,
        logger_options=LoggerOptions(log_level=logging.WARNING),
        maximum_concurrent_activity_work_items=4 * FANOUT,
        maximum_concurrent_orchestration_work_items=256,
        maximum_thread_pool_workers=32,
    )
    rt.register_workflow(chain, name="chain")
    rt.register_workflow(fan, name="fan")
    rt.register_activity(noop, name="noop")
    rt.register_activity(nap, name="nap")
    rt.start()
    for name in ("durabletask-worker", "durabletask-client", "WorkflowRuntime"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no per-turn INFO lines
    print("READY", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    rt.shutdown()


def role_sidecar(db: str) -> None:
    from funchost.sidecar import free_port
    from funchost.sidecar.server import Sidecar, SidecarConfig

    async def main() -> None:
        sidecar = Sidecar(SidecarConfig(http_port=free_port(), grpc_port=0, db_path=db))
        await sidecar.start()
        print(sidecar.config.grpc_port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await sidecar.stop()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# -- measurements (client process) -----------------------------------------------------------


def bench_baseline(tmp: Path, steps: int, synchronous: str) -> float:
    """Activities per second of a plain loop: call the activity, commit one row, repeat."""
    from funchost.sidecar.store import Store

    store = Store(tmp / f"baseline-{synchronous}-{time.monotonic_ns()}.db")
    store.execute(f"PRAGMA synchronous={synchronous}")
    store.ensure_schema("b", "CREATE TABLE IF NOT EXISTS steps (id INTEGER PRIMARY KEY, r TEXT)")
    t0 = time.perf_counter()
    for i in range(steps):
        r = noop(None, i)
        with store.tx() as conn:
            conn.execute("INSERT INTO steps (r) VALUES (?)", (json.dumps(r),))
    elapsed = time.perf_counter() - t0
    store.close()
    return steps / elapsed


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def bench_chains(client: Any, prefix: str) -> dict[str, float]:
    """(b): N_WORKFLOWS chains started by 64 client threads; latency = start to completion seen."""

    def one(i: int) -> float:
        t0 = time.perf_counter()
        iid = client.schedule_new_workflow("chain", input=i, instance_id=f"{prefix}-{i}")
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=300)
        assert state is not None and state.runtime_status.name == "COMPLETED", state
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        latencies = list(pool.map(one, range(N_WORKFLOWS)))
    elapsed = time.perf_counter() - t0
    return {
        "seconds": elapsed,
        "workflows_per_s": N_WORKFLOWS / elapsed,
        "activities_per_s": N_WORKFLOWS * CHAIN / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _pct(latencies, 99),
    }


def bench_fanout(client: Any) -> float:
    t0 = time.perf_counter()
    iid = client.schedule_new_workflow("fan", input=FANOUT, instance_id="fan-1")
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=300)
    assert state is not None and json.loads(state.serialized_output) == FANOUT, state
    return time.perf_counter() - t0


def main() -> None:
    import dapr.ext.workflow as wf

    here = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        # fsync speed varies with the machine's other I/O: median of 3 alternating rounds
        rounds = [
            (bench_baseline(tmp, 1000, "FULL"), bench_baseline(tmp, 2000, "NORMAL"))
            for _ in range(3)
        ]
        baseline = statistics.median(r[0] for r in rounds)
        unsynced = statistics.median(r[1] for r in rounds)
        print(f"(a) plain loop + 1 synced insert/step (WAL, synchronous=FULL): {baseline:,.0f}/s")
        print(f"    same loop, synchronous=NORMAL (no fsync per commit): {unsynced:,.0f}/s")

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        sidecar = subprocess.Popen(
            [sys.executable, here, "--sidecar", str(tmp / "wf.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert sidecar.stdout is not None
        port = sidecar.stdout.readline().strip()
        worker = subprocess.Popen(
            [sys.executable, here, "--worker", port],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert worker.stdout is not None and worker.stdout.readline().strip() == "READY"
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=port)
        try:
            bench_chains(client, "warmup")  # both processes: imports, caches, connections
            chains = bench_chains(client, "run")
            fanout_s = bench_fanout(client)
        finally:
            for name, proc in (("sidecar", sidecar), ("worker", worker)):
                fields = Path(f"/proc/{proc.pid}/stat").read_text().split()
                cpu = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
                print(f"    cpu {name}: {cpu:.1f}s")
            client.close()
            for proc in (worker, sidecar):
                assert proc.stdin is not None
                proc.stdin.close()
            for proc in (worker, sidecar):
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()

    ratio = chains["activities_per_s"] / baseline
    print(
        f"(b) {N_WORKFLOWS} workflows x {CHAIN} chained activities: {chains['seconds']:.2f}s, "
        f"{chains['workflows_per_s']:.1f} workflows/s, {chains['activities_per_s']:.0f} "
        f"activities/s, end-to-end p50 {chains['p50_ms']:.0f} ms, p99 {chains['p99_ms']:.0f} ms"
    )
    print(
        f"    ratio b/a = {chains['activities_per_s'] / unsynced:.3f} vs synchronous=NORMAL, "
        f"{ratio:.3f} vs FULL (goal >= 0.3; b goal >= 300 activities/s)"
    )
    print(f"(c) fan-out of {FANOUT} async activities sleeping 1 s: {fanout_s:.2f}s (goal <= 3 s)")
    print(
        json.dumps(
            {
                "baseline_activities_per_s": round(baseline, 1),
                "baseline_unsynced_per_s": round(unsynced, 1),
                "ratio_vs_fsync_baseline": round(ratio, 3),
                "topology": "separate processes (sidecar, worker, client); funchost run's"
                " (sidecar thread in the app process): bench/product.py",
                "workflows_per_s": round(chains["workflows_per_s"], 1),
                "activities_per_s": round(chains["activities_per_s"], 1),
                "ratio": round(chains["activities_per_s"] / unsynced, 3),  # same durability
                "p50_ms": round(chains["p50_ms"], 1),
                "p99_ms": round(chains["p99_ms"], 1),
                "fanout_1000_s": round(fanout_s, 2),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        role_worker(sys.argv[2])
    elif len(sys.argv) > 2 and sys.argv[1] == "--sidecar":
        role_sidecar(sys.argv[2])
    else:
        main()
