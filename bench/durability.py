"""The cost of `FUNCHOST_SYNC=full` (power-loss safe) against the default `normal` (kill -9 safe).

Run from the repo root: `python bench/durability.py` (about 40 s). For each setting, a sidecar
alone (`python -m funchost.sidecar.runner`, SQLite file in a temporary folder) takes, over HTTP
with a kept-alive connection and 16 concurrent callers:
- state saves (`POST /v1.0/state/statestore`, one key each: one commit per save);
- pub/sub publishes (`POST /v1.0/publish/pubsub/bench`: group commit of concurrent publishes).
Last line: one JSON object with ops/s per setting and the ratio full/normal.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

CONCURRENCY = 16
SECONDS = 8.0


def _start(folder: Path, sync: str) -> tuple[subprocess.Popen[str], int]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from funchost.sidecar import free_port

    http, grpc = free_port(), free_port()
    argv = [sys.executable, "-m", "funchost.sidecar.runner", "--app-id", "bench"]
    argv += ["--http-port", str(http), "--grpc-port", str(grpc), "--db", str(folder / f"{sync}.db")]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FUNCHOST_SYNC": sync},
    )
    assert proc.stdout is not None
    json.loads(proc.stdout.readline())
    return proc, http


async def _rate(url: str, body: Any) -> float:
    """Operations per second of POST url (CONCURRENCY callers, SECONDS long)."""
    done = 0
    end = time.monotonic() + SECONDS
    limits = httpx.Limits(max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def caller(n: int) -> None:
            nonlocal done
            i = 0
            while time.monotonic() < end:
                payload = body(n, i) if callable(body) else body
                resp = await client.post(url, json=payload)
                assert resp.status_code < 300, resp.text
                done += 1
                i += 1

        start = time.monotonic()
        await asyncio.gather(*(caller(n) for n in range(CONCURRENCY)))
        return done / (time.monotonic() - start)


def main() -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("normal", "full"):
            proc, http = _start(Path(tmp), sync)
            base = f"http://127.0.0.1:{http}/v1.0"
            try:
                save = asyncio.run(
                    _rate(
                        f"{base}/state/statestore",
                        lambda n, i: [{"key": f"k{n}-{i}", "value": {"n": n, "i": i}}],
                    )
                )
                publish = asyncio.run(_rate(f"{base}/publish/pubsub/bench", {"hello": "world"}))
            finally:
                proc.terminate()
                proc.wait(30)
            results[sync] = {"state_save_ops_s": round(save, 1), "publish_ops_s": round(publish, 1)}
            print(f"FUNCHOST_SYNC={sync}: {results[sync]}", file=sys.stderr)
    summary = {
        "bench": "durability",
        "concurrency": CONCURRENCY,
        "seconds_each": SECONDS,
        **results,
        "full_vs_normal": {
            k: round(results["full"][k] / results["normal"][k], 3) for k in results["normal"]
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
