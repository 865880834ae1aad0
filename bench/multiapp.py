"""Many apps on one machine: cross-app service invocation next to same-app invocation.

Run from the repo root: `python bench/multiapp.py` (under a minute). Four processes: the target
app (a funchost `@invoke` echo on uvicorn), its embedded sidecar B, a second sidecar A (the
caller's, no app needed) and this driver (aiohttp, kept-alive, 32 concurrent callers). Both
sidecars register in a private name registry, as `funchost run` does.

(a) same-app:  driver -> sidecar B -> app B    (`POST B/v1.0/invoke/bench-b/method/echo`)
(b) cross-app: driver -> sidecar A -> sidecar B -> app B (`POST A/v1.0/invoke/bench-b/...`)

Rounds alternate a, b, a, b... (5 pairs) so both see the same machine load; `invoke_ratio` is the
median of the per-pair b / a calls/s ratios (goal >= 0.7), robust to a noisy shared machine.
Cross-app workflow activities (`activity_ratio`) are measured by `activity_part`.
Last line: one JSON object.
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

CONCURRENCY = 32
CALLS = 2000
ROUNDS = 5
BODY = b'{"task_id": "t-1", "message": "hello"}'


# -- the processes -----------------------------------------------------------------------------
def run_app(port: int) -> None:
    """The target app: one `@invoke` method that answers its body, as `funchost run` serves it."""
    import uvicorn

    from funchost import Settings, create_app, invoke

    @invoke("echo", methods=("POST",))
    async def echo(payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    app = create_app([echo], Settings(app_id="bench-b", app_port=port))
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", access_log=False
    )


def run_sidecar(app_id: str, app_port: int | None, db: str, registry: str) -> None:
    """An embedded sidecar registered in `registry`; prints its HTTP port once listening."""
    import uvloop

    from funchost.sidecar import Sidecar, SidecarConfig

    async def main() -> None:
        sidecar = Sidecar(
            SidecarConfig(
                app_id=app_id,
                app_port=app_port,
                http_port=0,
                grpc_port=0,
                db_path=db,
                register=True,
                registry_dir=registry,
            )
        )
        await sidecar.start()
        print(sidecar.config.http_port, flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


# -- measurements ------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def closed_loop(session: Any, url: str, total: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for _ in counter:
            t = time.perf_counter()
            async with session.post(
                url, data=BODY, headers={"content-type": "application/json"}
            ) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{url}: {r.status} {await r.text()}")
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    return {
        "calls_per_s": total / elapsed,
        "p50_ms": pct(latencies, 0.50),
        "p99_ms": pct(latencies, 0.99),
    }


def _merge(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(sum(r[k] for r in rounds) / len(rounds), 2) for k in rounds[0]}


async def invoke_part(same_url: str, cross_url: str) -> dict[str, Any]:
    """Cross-app vs same-app invocation calls/s and p99, alternating rounds."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await closed_loop(session, same_url, 300)  # warm up both paths
        await closed_loop(session, cross_url, 300)
        same, cross = [], []
        for _ in range(ROUNDS):
            same.append(await closed_loop(session, same_url, CALLS))
            cross.append(await closed_loop(session, cross_url, CALLS))
    ratios = [c["calls_per_s"] / s["calls_per_s"] for s, c in zip(same, cross, strict=True)]
    return {
        "same_app_invoke": _merge(same),
        "cross_app_invoke": _merge(cross),
        "invoke_ratio": round(statistics.median(ratios), 3),
        "invoke_ratio_per_round": [round(r, 3) for r in ratios],
    }


def activity_part() -> dict[str, Any]:
    """Cross-app workflow activities/s next to same-app ones (`activity_ratio`, goal >= 0.7).

    PART B of issue 13 (cross-app workflows) fills this in; until then it reports nothing.
    """
    return {}


# -- the driver --------------------------------------------------------------------------------
def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, text=True
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--role", choices=["driver", "app", "sidecar"], default="driver")
    p.add_argument("--app-id", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--db", default="")
    p.add_argument("--registry", default="")
    args = p.parse_args()
    if args.role == "app":
        run_app(args.port)
        return
    if args.role == "sidecar":
        run_sidecar(args.app_id, args.port or None, args.db, args.registry)
        return

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory(prefix="funchost-bench-multiapp-") as tmp:
        registry = str(Path(tmp) / "registry")
        app_port = _free_port()
        try:
            procs.append(_spawn(["--role", "app", "--port", str(app_port)], env))
            ports = {}
            for app_id, port in (("bench-b", app_port), ("bench-a", 0)):
                db = str(Path(tmp) / f"{app_id}.db")
                proc = _spawn(
                    ["--role", "sidecar", "--app-id", app_id, "--port", str(port), "--db", db,
                     "--registry", registry],
                    env,
                )  # fmt: skip
                procs.append(proc)
                assert proc.stdout is not None
                ports[app_id] = int(proc.stdout.readline())
            same = f"http://127.0.0.1:{ports['bench-b']}/v1.0/invoke/bench-b/method/echo"
            cross = f"http://127.0.0.1:{ports['bench-a']}/v1.0/invoke/bench-b/method/echo"
            _wait_app(same)
            result: dict[str, Any] = {"bench": "multiapp", "concurrency": CONCURRENCY}
            result.update(asyncio.run(invoke_part(same, cross)))
            result.update(activity_part())
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(json.dumps(result))


def _wait_app(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, data=BODY, method="POST")
            req.add_header("content-type", "application/json")
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the target app never answered {url}")


if __name__ == "__main__":
    main()
