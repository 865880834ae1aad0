"""The product path, measured the way users run it: `python bench/product.py` (from the root).

Starts `funchost run bench/app` (app, embedded sidecar and workflow worker in one process, the
default settings, a SQLite file) and drives it from this process with the Dapr SDK's clients:

- workflows: 5-step chains of a no-op activity with 100 in flight (activities/s); the worker's
  own ceiling from the same run (1 / CPU seconds per activity of the process's threads other
  than the sidecar's and the app's main thread); a fan-out of 1,000 activities sleeping 1 s;
- pub/sub: events published with 8 in flight, committed and delivered (events/s, publish p99);
- actors: calls over 100 ids (64 in flight), then paced at 500 calls/s (p99);
- state: `DaprClient` (gRPC) save + get with 8 in flight (ops/s);
- memory: RSS growth per finished workflow over `--finished` one-step workflows with retention
  on (FUNCHOST_WORKFLOW_RETENTION=10s), after the rest has warmed the process up;
then `funchost sidecar` idle RSS, and `funchost run functions/`: cold start (until the first
200 of /healthz; the median of 3 starts with bytecode caches, as an installed package runs, and
apart the first start and a start with no cache at all) and idle RSS. The last line is one JSON
object: each key, its goal, the load.

    python bench/product.py [--finished 10000] [--events 3000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOALS: dict[str, tuple[str, float]] = {
    "workflow_activities_per_s": (">=", 450),
    "workflow_limit_ratio": (">=", 0.8),
    "fanout_1000_s": ("<=", 2.0),
    "pubsub_events_per_s": (">=", 2500),
    "pubsub_p99_ms_8_in_flight": ("<=", 10),
    "actor_calls_per_s_100_ids": (">=", 2000),
    "actor_p99_ms_at_500_per_s": ("<=", 6.9),
    "state_ops_per_s": (">=", 4000),
    "sidecar_idle_rss_mb": ("<=", 60),
    "run_idle_rss_mb": ("<=", 90),
    "rss_growth_kb_per_finished_workflow": ("<=", 0.1),
    "cold_start_s": ("<=", 1.0),
}


PARTS = ("idle", "workflows", "pubsub", "actors", "state", "rss")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `check()` holds (polled every 10 ms)."""
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.01)
    return time.perf_counter() - t0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of each thread of `pid`: {tid: (name, seconds)}."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def connected_workers(http_port: int) -> int:
    """Workflow workers connected to the sidecar on `http_port` (its metadata API)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1.0/metadata") as resp:
        meta = json.loads(resp.read())
    return int(meta.get("workflows", {}).get("connectedWorkers", 0))


class Run:
    """`funchost run PATH` on free ports with its own state directory."""

    def __init__(self, path: Path, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.port, self.http, self.grpc = free_port(), free_port(), free_port()
        state = tmp / f"state-{self.port}"
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "funchost",
                "run",
                str(path),
                "--port",
                str(self.port),
                "--dapr-http-port",
                str(self.http),
                "--dapr-grpc-port",
                str(self.grpc),
                "--state-dir",
                str(state),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), 60, f"{path} app")
        except TimeoutError:
            self.stop()
            raise
        self.cold_start_s = time.perf_counter() - self.t0

    def workers(self) -> int:
        return connected_workers(self.http)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- workflows -------------------------------------------------------------------------------


def run_workflows(client: Any, name: str, n: int, in_flight: int, arg: int = 1) -> float:
    """Start `n` instances of `name`, `in_flight` at a time; seconds until all completed."""

    def one(i: int) -> None:
        iid = client.schedule_new_workflow(name, input=arg)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=300)
        assert state is not None and state.runtime_status.name == "COMPLETED", state

    t0 = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - t0


def bench_workflows(run: Run, n_chains: int) -> dict[str, float]:
    import dapr.ext.workflow as wf

    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(run.grpc))
    try:
        run_workflows(client, "chain", 100, 100)  # warm-up: connections, caches
        before = thread_cpu(run.proc.pid)
        seconds = run_workflows(client, "chain", n_chains, 100)
        after = thread_cpu(run.proc.pid)
        fanout_s = run_workflows(client, "fan", 1, 1, arg=1000)
    finally:
        client.close()
    activities = n_chains * 5
    per_thread = {
        tid: (name, cpu - before.get(tid, (name, 0.0))[1]) for tid, (name, cpu) in after.items()
    }
    sidecar = sum(c for n, c in per_thread.values() if n.startswith("funchost-sidec"))
    main = per_thread.get(run.proc.pid, ("", 0.0))[1]
    worker = sum(c for _, c in per_thread.values()) - sidecar - main
    rate = activities / seconds
    ceiling = activities / worker if worker > 0 else float("inf")
    return {
        "workflow_activities_per_s": rate,
        "workflow_limit_ratio": rate / ceiling,
        "fanout_1000_s": fanout_s,
        "_worker_ceiling_activities_per_s": ceiling,
        "_cpu_ms_per_activity_sidecar": 1000 * sidecar / activities,
        "_cpu_ms_per_activity_worker": 1000 * worker / activities,
        "_cpu_ms_per_activity_main": 1000 * main / activities,
    }


def bench_rss_growth(run: Run, finished: int) -> float:
    import dapr.ext.workflow as wf

    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(run.grpc))
    try:
        run_workflows(client, "single", 1000, 100)  # warm-up
        before = rss_mb(run.proc.pid)
        run_workflows(client, "single", finished, 100)
        time.sleep(1.0)
        after = rss_mb(run.proc.pid)
    finally:
        client.close()
    return max(0.0, (after - before) * 1024 / finished)


# -- pub/sub, actors, state ------------------------------------------------------------------


def delivered(run: Run) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{run.port}/delivered") as resp:
        return int(json.loads(resp.read())["count"])


async def bench_pubsub(run: Run, events: int) -> dict[str, float]:
    from dapr.aio.clients import DaprClient

    start = delivered(run)
    latencies: list[float] = []
    async with DaprClient(f"127.0.0.1:{run.grpc}") as client:
        queue = iter(range(events))

        async def publisher() -> None:
            for i in queue:
                t = time.perf_counter()
                await client.publish_event("pubsub", "bench-events", json.dumps({"i": i}))
                latencies.append(time.perf_counter() - t)

        before = thread_cpu(run.proc.pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(8)))
        while delivered(run) - start < events:
            if time.perf_counter() - t0 > 120:
                raise TimeoutError("pub/sub events not delivered after 120 s")
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - t0
        after = thread_cpu(run.proc.pid)
    per_thread = {
        tid: (name, cpu - before.get(tid, (name, 0.0))[1]) for tid, (name, cpu) in after.items()
    }
    sidecar = sum(c for n, c in per_thread.values() if n.startswith("funchost-sidec"))
    total = sum(c for _, c in per_thread.values())
    return {
        "pubsub_events_per_s": events / seconds,
        "pubsub_p99_ms_8_in_flight": 1000 * pct(latencies, 99),
        "_pubsub_p50_ms_8_in_flight": 1000 * statistics.median(latencies),
        "_pubsub_cpu_us_per_event": 1e6 * total / events,
        "_pubsub_cpu_us_per_event_sidecar": 1e6 * sidecar / events,
    }


def _cpu_split(
    pid: int, before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds between two `thread_cpu` readings: sidecar threads, main thread, the rest."""
    spent = {
        tid: (name, cpu - before.get(tid, (name, 0.0))[1]) for tid, (name, cpu) in after.items()
    }
    sidecar = sum(c for n, c in spent.values() if n.startswith("funchost-sidec"))
    main = spent.get(pid, ("", 0.0))[1]
    total = sum(c for _, c in spent.values())
    return {"total": total, "sidecar": sidecar, "main": main, "other": total - sidecar - main}


async def bench_actors(run: Run, seconds: float) -> dict[str, float]:
    import aiohttp

    base = f"http://127.0.0.1:{run.http}/v1.0/actors/Counter"

    async with aiohttp.ClientSession() as session:

        async def call(i: int) -> float:
            t = time.perf_counter()
            async with session.post(f"{base}/c{i % 100}/method/Increment", data=b"1") as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
            return time.perf_counter() - t

        for i in range(200):  # warm-up: activate the 100 ids
            await call(i)
        count = 0
        end = time.perf_counter() + seconds

        async def caller(k: int) -> None:
            nonlocal count
            i = k
            while time.perf_counter() < end:
                await call(i)
                count += 1
                i += 64

        before = thread_cpu(run.proc.pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(caller(k) for k in range(64)))
        rate = count / (time.perf_counter() - t0)
        cpu = _cpu_split(run.proc.pid, before, thread_cpu(run.proc.pid))
        # paced (open loop): 500 calls/s for `seconds`, latency from the scheduled send time
        latencies: list[float] = []

        async def paced(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            t = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        n = int(500 * seconds)
        await asyncio.gather(*(paced(i, t0 + i / 500) for i in range(n)))
    return {
        "actor_calls_per_s_100_ids": rate,
        "actor_p99_ms_at_500_per_s": 1000 * pct(latencies, 99),
        "_actor_p50_ms_at_500_per_s": 1000 * statistics.median(latencies),
        **{f"_cpu_us_per_call_{k}": 1e6 * v / count for k, v in cpu.items()},
    }


async def bench_state(run: Run, seconds: float) -> dict[str, float]:
    from dapr.aio.clients import DaprClient

    ops = 0
    async with DaprClient(f"127.0.0.1:{run.grpc}") as client:
        end = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            nonlocal ops
            i = 0
            while time.perf_counter() < end:
                key = f"bench-{k}-{i % 50}"
                await client.save_state("statestore", key, str(i))
                await client.get_state("statestore", key)
                ops += 2
                i += 1

        cpu0, own0 = thread_cpu(run.proc.pid), time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(8)))
        rate = ops / (time.perf_counter() - t0)
        cpu1, own1 = thread_cpu(run.proc.pid), time.process_time()
        # diagnostics: CPU microseconds per op of the funchost process, its sidecar threads (the
        # loop and grpc.aio's completion-queue poller, which inherits its name), and of this
        # (client) process, which shares the machine's cores with it
        spent = {
            tid: cpu1[tid][1] - cpu0.get(tid, (name, 0.0))[1] for tid, (name, _) in cpu1.items()
        }
        sidecar = sum(v for tid, v in spent.items() if cpu1[tid][0].startswith("funchost-sidec"))
        per_op = 1e6 / max(ops, 1)
        return {
            "state_ops_per_s": rate,
            "_state_run_cpu_us_per_op": sum(spent.values()) * per_op,
            "_state_sidecar_cpu_us_per_op": sidecar * per_op,
            "_state_client_cpu_us_per_op": (own1 - own0) * per_op,
        }


# -- processes at rest -----------------------------------------------------------------------


def sidecar_idle_rss(tmp: Path) -> float:
    http, grpc = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "funchost",
            "sidecar",
            "--app-id",
            "idle",
            "--dapr-http-port",
            str(http),
            "--dapr-grpc-port",
            str(grpc),
            "--state-dir",
            str(tmp / "sidecar-idle"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{http}/v1.0/healthz/outbound"), 60, "sidecar")
        time.sleep(2.0)
        return rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


COLD_STARTS = 3
"""Starts of `funchost run functions/` after the first, whose median is `cold_start_s`."""


def cold_start_without_bytecode(tmp: Path) -> float:
    """Seconds to the first 200 when no bytecode cache is read or written (every module of
    funchost, of the app and of the libraries compiled at start: the worst case)."""
    with tempfile.TemporaryDirectory(dir=tmp) as empty:
        env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        agent = Run(ROOT / "functions", tmp, env)
        agent.stop()
        return agent.cold_start_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--chains", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--only", default="", help="comma-separated parts: idle,workflows,pubsub,actors,state,rss"
    )
    args = parser.parse_args()
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    result: dict[str, float] = {}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if "idle" in parts:
            # As installed: bytecode caches written and read (pip compiles them at install; an
            # editable checkout writes them at its first start), whatever this shell's
            # PYTHONDONTWRITEBYTECODE says. The first start also compiles what has no cache yet.
            starts = []
            for n in range(1 + COLD_STARTS):
                agent = Run(ROOT / "functions", tmp, {"PYTHONDONTWRITEBYTECODE": ""})
                try:
                    starts.append(agent.cold_start_s)
                    if n == COLD_STARTS:
                        time.sleep(3.0)  # settle: the workflow worker connects, subscriptions load
                        result["run_idle_rss_mb"] = rss_mb(agent.proc.pid)
                finally:
                    agent.stop()
            result["_cold_start_s_first_start"] = starts[0]
            result["cold_start_s"] = statistics.median(starts[1:])
            result["_cold_start_s_no_bytecode_cache"] = cold_start_without_bytecode(tmp)
            result["sidecar_idle_rss_mb"] = sidecar_idle_rss(tmp)
        run = Run(ROOT / "bench" / "app", tmp, {"FUNCHOST_WORKFLOW_RETENTION": "10s"})
        from dapr.conf import settings

        settings.DAPR_HTTP_PORT = run.http  # the SDK clients' health check reads it
        settings.DAPR_GRPC_PORT = run.grpc
        try:
            wait_until(lambda: run.workers() > 0, 60, "the workflow worker")
            print(f"bench app up in {run.cold_start_s:.2f}s", file=sys.stderr)
            if "workflows" in parts:
                result.update(bench_workflows(run, args.chains))
                loads.append(os.getloadavg()[0])
            if "pubsub" in parts:
                result.update(asyncio.run(bench_pubsub(run, args.events)))
            if "actors" in parts:
                result.update(asyncio.run(bench_actors(run, args.seconds)))
            if "state" in parts:
                result.update(asyncio.run(bench_state(run, args.seconds)))
            loads.append(os.getloadavg()[0])
            if "rss" in parts:
                growth = bench_rss_growth(run, args.finished)
                result["rss_growth_kb_per_finished_workflow"] = growth
                loads.append(os.getloadavg()[0])
        finally:
            run.stop()
    for key, (op, goal) in GOALS.items():
        if key not in result:
            continue
        value = result[key]
        met = value >= goal if op == ">=" else value <= goal
        print(f"{key:40s} {value:10.2f}   goal {op} {goal:<8g} {'met' if met else 'NOT met'}")
    out: dict[str, Any] = {k: round(v, 3) for k, v in result.items()}
    out["goals"] = {k: f"{op} {goal:g}" for k, (op, goal) in GOALS.items()}
    out["load_avg_1m"] = [round(x, 2) for x in loads]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
