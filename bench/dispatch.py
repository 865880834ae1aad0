"""Dispatch overhead: a bare FastAPI route vs the same handler as a funchost @topic function.

Both routes live in ONE uvicorn server (a subprocess) and receive the same CloudEvent from
the same aiohttp client; rounds are interleaved so both see the same machine load.

    python bench/dispatch.py [--rounds 8] [--requests 1500] [--concurrency 8]
                             [--observability on|off]

The last line is a JSON object: ratio (funchost rps / bare rps), p99_added_ms, and the
per-target figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.host._events import cloudevent

EVENT = cloudevent({"id": "order-1", "amount": 12.5, "items": ["a", "b", "c"]})
BODY = json.dumps(EVENT).encode()
TARGETS = {
    "bare": "/bare",
    "funchost": "/events/pubsub/orders/on_order",
    # the same function in two mounted apps, observability (metrics, scopes, logs) on vs off
    "obs_on": "/obs-on/events/pubsub/orders/on_order",
    "obs_off": "/obs-off/events/pubsub/orders/on_order",
}


class Order(BaseModel):
    id: str
    amount: float
    items: list[str]


COUNT = [0]


async def handle(order: Order) -> None:
    """The one handler both routes call."""
    COUNT[0] += 1


def build_funchost(observability: bool) -> Any:
    from funchost import Settings, create_app, topic
    from funchost.plugins import get_plugin_manager

    @topic("pubsub", "orders")
    async def on_order(order: Order) -> None:
        await handle(order)

    pm = get_plugin_manager(entry_points=False)
    if not observability:
        for name in ("funchost.observability.plugin",):
            plugin = pm.get_plugin(name)
            if plugin is not None:
                pm.unregister(plugin)
    return create_app([on_order], Settings(workflows=False, schedule_jobs=False), plugin_manager=pm)


def build_app(observability: bool) -> Any:
    from fastapi import FastAPI

    if observability:  # structured JSON logs, as in a container
        from funchost.observability.logging import configure_logging

        configure_logging("json", level="INFO")
    app: FastAPI = build_funchost(observability)
    app.mount("/obs-on", build_funchost(True))
    app.mount("/obs-off", build_funchost(False))

    @app.post("/bare")
    async def bare(event: dict[str, Any]) -> dict[str, str]:
        await handle(Order.model_validate(event["data"]))
        return {"status": "SUCCESS"}

    return app


def serve(port: int, observability: bool) -> None:
    import uvicorn

    uvicorn.run(
        build_app(observability),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_round(session: Any, url: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    headers = {"content-type": "application/cloudevents+json"}
    remaining = [n]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            start = time.perf_counter()
            async with session.post(url, data=BODY, headers=headers) as resp:
                payload = await resp.read()
                if resp.status != 200 or b"SUCCESS" not in payload:
                    raise RuntimeError(f"{url}: {resp.status} {payload!r}")
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def drive(port: int, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(200):
            try:
                async with session.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        for path in TARGETS.values():  # warm-up
            await run_round(session, base + path, 300, args.concurrency)
        elapsed = {k: 0.0 for k in TARGETS}
        lats: dict[str, list[float]] = {k: [] for k in TARGETS}
        rps_rounds: dict[str, list[float]] = {k: [] for k in TARGETS}
        for _ in range(args.rounds):
            order = list(TARGETS)
            random.shuffle(order)
            for name in order:
                took, lat = await run_round(
                    session, base + TARGETS[name], args.requests, args.concurrency
                )
                elapsed[name] += took
                lats[name] += lat
                rps_rounds[name].append(args.requests / took)
        # observability on vs off: many short back-to-back pairs (order alternating), so a
        # burst of load from elsewhere hits both sides of a pair
        pair_ratios: list[float] = []
        for i in range(args.obs_pairs):
            pair = ("obs_on", "obs_off") if i % 2 == 0 else ("obs_off", "obs_on")
            rates = {}
            for name in pair:
                took, _ = await run_round(
                    session, base + TARGETS[name], args.obs_requests, args.concurrency
                )
                rates[name] = args.obs_requests / took
            pair_ratios.append(rates["obs_on"] / rates["obs_off"])
    result: dict[str, Any] = {"_pair_ratios": pair_ratios}
    for name in TARGETS:
        result[name] = {
            "rps": round(len(lats[name]) / elapsed[name], 1),
            "rps_median_round": round(statistics.median(rps_rounds[name]), 1),
            "p50_ms": round(pct(lats[name], 0.50), 3),
            "p99_ms": round(pct(lats[name], 0.99), 3),
            "_rounds": rps_rounds[name],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--observability", choices=("on", "off"), default="on")
    parser.add_argument("--obs-pairs", type=int, default=24, help="on/off pairs (short rounds)")
    parser.add_argument("--obs-requests", type=int, default=400, help="requests per pair side")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.observability == "on")
        return
    port = free_port()
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--serve",
        str(port),
        "--observability",
        args.observability,
    ]
    server = subprocess.Popen(cmd)
    try:
        result = asyncio.run(drive(port, args))
    finally:
        server.terminate()
        server.wait(10)
    bare, fh = result["bare"], result["funchost"]
    ratio = fh["rps"] / bare["rps"]
    # the median of many paired short rounds (plus the main rounds' pairs) is robust to the
    # load of a shared machine changing while the benchmark runs
    pairs = zip(result["obs_on"]["_rounds"], result["obs_off"]["_rounds"], strict=True)
    ratios = result.pop("_pair_ratios") + [on / off for on, off in pairs]
    obs_ratio = statistics.median(ratios)
    for figures in result.values():
        figures.pop("_rounds")
    p99_added = fh["p99_ms"] - bare["p99_ms"]
    print(f"{'target':<10} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
    for name in TARGETS:
        r = result[name]
        print(f"{name:<10} {r['rps']:>10.1f} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f}")
    print(
        f"ratio funchost/bare = {ratio:.3f} (goal >= 0.85); p99 added = {p99_added:+.3f} ms "
        "(goal <= 1 ms)"
    )
    print(
        f"observability on/off = {obs_ratio:.3f} (goal >= 0.90: metrics, trace scopes and "
        "structured logs cost <= 10% of throughput)"
    )
    summary = {
        "ratio": round(ratio, 3),
        "p99_added_ms": round(p99_added, 3),
        "bare": bare,
        "funchost": fh,
        "observability_ratio": round(obs_ratio, 3),
        "obs_on": result["obs_on"],
        "obs_off": result["obs_off"],
        "observability": args.observability,
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "concurrency": args.concurrency,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
