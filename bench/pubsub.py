"""Pub/sub benchmark: direct CloudEvent POSTs vs. durable publish through the embedded sidecar.

(a) a loopback client POSTs CloudEvents straight to the app; (b) the same number of events are
published with the Dapr SDK (async gRPC client) to the embedded sidecar, committed to SQLite and
delivered to the app. The app and the sidecar run as separate processes, as in production.
Each run alternates (a) and (b) for several rounds and reports the medians (the machine is
shared). Publish latency p50/p99 is measured with one publisher awaiting each call (the loaded
figure, with `--concurrency` calls in flight, is printed too). Idle RSS is the sidecar process's
VmRSS after start-up. The last line is one JSON object.

    python bench/pubsub.py [--events 3000] [--rounds 3] [--concurrency 8]
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
import uuid
from pathlib import Path

from _common import wait_http

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- the app (run with --role app) ------------------------------------------------------------
def run_app(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state = {"count": 0}

    async def subscribe(request: Request) -> Response:
        return JSONResponse([{"pubsubname": "pubsub", "topic": "bench", "route": "/events"}])

    async def events(request: Request) -> Response:
        event = json.loads(await request.body())
        if "data" not in event:
            return Response(status_code=400)
        state["count"] += 1
        return JSONResponse({"status": "SUCCESS"})

    async def count(request: Request) -> Response:
        return JSONResponse(state)

    async def reset(request: Request) -> Response:
        state["count"] = 0
        return Response(status_code=204)

    async def healthz(request: Request) -> Response:
        return Response(status_code=200)

    app = Starlette(
        routes=[
            Route("/dapr/subscribe", subscribe),
            Route("/events", events, methods=["POST"]),
            Route("/count", count),
            Route("/reset", reset, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- helpers ---------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


async def wait_count(session, app_url: str, n: int, timeout: float = 120.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        async with session.get(f"{app_url}/count") as r:
            if (await r.json())["count"] >= n:
                return time.perf_counter()
        await asyncio.sleep(0.005)
    raise TimeoutError(f"app did not receive {n} events")


def cloudevent(i: int) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "source": "bench",
            "type": "com.dapr.event.sent",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "topic": "bench",
            "pubsubname": "pubsub",
            "data": {"i": i, "payload": "x" * 64},
        }
    ).encode()


async def direct(app_url: str, n: int, concurrency: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        await session.post(f"{app_url}/reset")
        queue = list(range(n))
        headers = {"Content-Type": "application/cloudevents+json"}

        async def worker() -> None:
            while queue:
                i = queue.pop()
                async with session.post(
                    f"{app_url}/events", data=cloudevent(i), headers=headers
                ) as r:
                    await r.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = await wait_count(session, app_url, n)
        return n / (end - start)


async def through_sidecar(
    app_url: str, grpc_address: str, n: int, concurrency: int
) -> tuple[float, list[float]]:
    import aiohttp
    from dapr.aio.clients import DaprClient

    latencies: list[float] = []
    async with aiohttp.ClientSession() as session, DaprClient(address=grpc_address) as client:
        for i in range(50):  # warm-up (connection, first commits)
            await client.publish_event(
                "pubsub", "bench", json.dumps({"i": -i}), data_content_type="application/json"
            )
        await wait_count(session, app_url, 50)
        await session.post(f"{app_url}/reset")
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                body = json.dumps({"i": i, "payload": "x" * 64})
                t0 = time.perf_counter()
                await client.publish_event(
                    "pubsub", "bench", body, data_content_type="application/json"
                )
                latencies.append((time.perf_counter() - t0) * 1000.0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = await wait_count(session, app_url, n)
        return n / (end - start), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", default="bench")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-events", type=int, default=1000)
    args = parser.parse_args()
    if args.role == "app":
        run_app(args.port)
        return

    from funchost.sidecar import free_port

    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    env = {**os.environ, "DAPR_HTTP_PORT": str(http_port), "DAPR_GRPC_PORT": str(grpc_port)}
    os.environ.update(env)
    tmp = tempfile.mkdtemp(prefix="funchost-bench-")
    app = subprocess.Popen(
        [sys.executable, __file__, "--role", "app", "--port", str(app_port)], env=env
    )
    sidecar = subprocess.Popen(
        [
            sys.executable, "-m", "funchost.sidecar.runner",
            "--app-id", "bench", "--app-port", str(app_port),
            "--http-port", str(http_port), "--grpc-port", str(grpc_port),
            "--db", str(Path(tmp) / "sidecar.db"),
        ],
        env=env, stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    try:
        app_url = f"http://127.0.0.1:{app_port}"
        grpc_address = f"127.0.0.1:{grpc_port}"
        wait_http(f"{app_url}/healthz")
        wait_http(f"http://127.0.0.1:{http_port}/v1.0/healthz")
        time.sleep(1.0)
        idle_rss = rss_mb(sidecar.pid)
        direct_runs, side_runs, loaded_lat = [], [], []
        for _ in range(args.rounds):  # alternate (a) and (b): the machine is shared and noisy
            direct_runs.append(asyncio.run(direct(app_url, args.events, args.concurrency)))
            eps, lat = asyncio.run(
                through_sidecar(app_url, grpc_address, args.events, args.concurrency)
            )
            side_runs.append(eps)
            loaded_lat.extend(lat)
        _, lat1 = asyncio.run(through_sidecar(app_url, grpc_address, args.latency_events, 1))
        busy_rss = rss_mb(sidecar.pid)
    finally:
        for proc in (sidecar, app):
            proc.terminate()
        for proc in (sidecar, app):
            proc.wait(15)
    direct_eps = statistics.median(direct_runs)
    side_eps = statistics.median(side_runs)
    ratio = side_eps / direct_eps
    p50, p99 = percentile(lat1, 50), percentile(lat1, 99)
    lp50, lp99 = percentile(loaded_lat, 50), percentile(loaded_lat, 99)
    print(
        f"events per run:         {args.events} x {args.rounds} rounds,"
        f" {args.concurrency} in flight"
    )
    print(f"(a) direct POST:        {direct_eps:,.0f} events/s (median; runs {fmt(direct_runs)})")
    print(f"(b) through sidecar:    {side_eps:,.0f} events/s (median; runs {fmt(side_runs)})")
    print(f"ratio b/a:              {ratio:.2f}")
    print(f"publish latency:        p50 {p50:.2f} ms, p99 {p99:.2f} ms (one publisher)")
    print(
        f"publish latency loaded: p50 {lp50:.2f} ms, p99 {lp99:.2f} ms"
        f" ({args.concurrency} in flight)"
    )
    print(f"sidecar RSS:            idle {idle_rss:.1f} MB, after run {busy_rss:.1f} MB")
    print(
        json.dumps(
            {
                "ratio": round(ratio, 3),
                "events_per_s": round(side_eps, 1),
                "direct_events_per_s": round(direct_eps, 1),
                "publish_p50_ms": round(p50, 3),
                "publish_p99_ms": round(p99, 3),
                "loaded_publish_p99_ms": round(lp99, 3),
                "idle_rss_mb": round(idle_rss, 1),
                "events": args.events,
                "rounds": args.rounds,
                "concurrency": args.concurrency,
                "topology": "separate processes (sidecar, app, client); funchost run's"
                " (sidecar thread in the app process): bench/product.py",
            }
        )
    )


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100.0))]


def fmt(runs: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in runs)


if __name__ == "__main__":
    main()
