"""`funchost run`'s topology, measured side by side: `python bench/topology.py` (from the root).

The same app (`bench/app`) on the same embedded sidecar, two ways, alternating round by round
so both see the same machine:

- **one process**: `funchost run bench/app` (app, sidecar thread and workflow worker in one
  process, the in-process transports between them), what `funchost run` does;
- **two processes**: `funchost sidecar` and `funchost serve bench/app` beside it (the app and
  its workflow worker reach the sidecar over loopback gRPC/HTTP, as next to daprd).

Each round measures, on a fresh state directory: idle RSS (all processes, once the worker has
connected), workflow activities/s (5-step chains, 100 in flight) with the CPU seconds per
activity of all processes, then pub/sub events/s (published with 8 in flight, committed,
delivered). The last line is one JSON object: the median of each figure per topology, their
ratios (two / one) and the load average.

    python bench/topology.py [--rounds 2] [--chains 300] [--events 2000]
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
from pathlib import Path
from typing import Any

from product import (  # `python bench/topology.py` puts bench/ on sys.path
    ROOT,
    Run,
    bench_pubsub,
    connected_workers,
    free_port,
    http_ok,
    rss_mb,
    run_workflows,
    wait_until,
)

APP = ROOT / "bench" / "app"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TwoProcesses:
    """`funchost sidecar` + `funchost serve bench/app`, on free ports (the `Run` interface)."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.http, self.grpc = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DAPR_HTTP_PORT": str(self.http),
            "DAPR_GRPC_PORT": str(self.grpc),
            "APP_PORT": str(self.port),
        }
        self.sidecar = subprocess.Popen(
            [
                *(sys.executable, "-m", "funchost", "sidecar", "--app-id", "app"),
                *("--app-port", str(self.port), "--dapr-http-port", str(self.http)),
                *("--dapr-grpc-port", str(self.grpc), "--state-dir", str(tmp / "two")),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "funchost", "serve", str(APP), "--app-id", "app"),
                *("--port", str(self.port), "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), 60, "the app")

    @property
    def pids(self) -> list[int]:
        return [self.sidecar.pid, self.proc.pid]

    def workers(self) -> int:
        return connected_workers(self.http)

    def stop(self) -> None:
        for proc in (self.proc, self.sidecar):  # the app first, as in a pod's shutdown
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(run: Any, pids: list[int], chains: int, events: int) -> dict[str, float]:
    """One topology's figures (see the module docstring)."""
    import dapr.ext.workflow as wf
    from dapr.conf import settings

    settings.DAPR_HTTP_PORT = run.http  # the SDK clients' health check reads it
    settings.DAPR_GRPC_PORT = run.grpc
    wait_until(lambda: run.workers() > 0, 60, "the workflow worker")
    time.sleep(2.0)  # settle: subscriptions load, start-up work ends
    idle = sum(rss_mb(pid) for pid in pids)
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(run.grpc))
    try:
        run_workflows(client, "chain", 100, 100)  # warm-up: connections, caches
        before = sum(cpu_seconds(pid) for pid in pids)
        seconds = run_workflows(client, "chain", chains, 100)
        cpu = sum(cpu_seconds(pid) for pid in pids) - before
    finally:
        client.close()
    pubsub = asyncio.run(bench_pubsub(run, events))
    activities = chains * 5
    return {
        "idle_rss_mb": idle,
        "workflow_activities_per_s": activities / seconds,
        "cpu_ms_per_activity": 1000 * cpu / activities,
        "pubsub_events_per_s": pubsub["pubsub_events_per_s"],
        "pubsub_p99_ms_8_in_flight": pubsub["pubsub_p99_ms_8_in_flight"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chains", type=int, default=300)
    parser.add_argument("--events", type=int, default=2_000)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"one_process": [], "two_processes": []}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmpdir:
        for n in range(args.rounds):
            for name in ("one_process", "two_processes"):
                tmp = Path(tmpdir) / f"{name}-{n}"
                tmp.mkdir()
                run: Any = Run(APP, tmp) if name == "one_process" else TwoProcesses(tmp)
                try:
                    pids = [run.proc.pid] if name == "one_process" else run.pids
                    figures = measure(run, pids, args.chains, args.events)
                finally:
                    run.stop()
                results[name].append(figures)
                loads.append(os.getloadavg()[0])
                print(f"round {n + 1} {name}: {json.dumps(figures)}", file=sys.stderr)
    out: dict[str, Any] = {}
    for name, rounds in results.items():
        out[name] = {k: round(statistics.median(r[k] for r in rounds), 2) for k in rounds[0]}
    out["ratio_two_over_one"] = {
        k: round(out["two_processes"][k] / out["one_process"][k], 2) for k in out["one_process"]
    }
    out["rounds"] = args.rounds
    out["load_avg_1m"] = [round(x, 2) for x in loads]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
