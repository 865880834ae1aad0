"""Retries of a failing subscriber are spaced by the Resiliency policy, not by the backlog: with a
200 ms constant policy and thousands of messages queued behind, attempts are 200 ms apart (+-20%).

Real clock on purpose: the virtual clock only advances when the sidecar is idle, so it cannot
show a backlog delaying a due retry."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from funchost.sidecar import free_port
from tests.sidecar._procs import dapr_client, stop
from tests.sidecar.conftest import AppServer

pytestmark = pytest.mark.slow

RESILIENCY = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: spacing}
spec:
  policies:
    retries:
      fast: {policy: constant, duration: 200ms, maxRetries: 8}
  targets:
    components:
      pubsub: {inbound: {retry: fast}}
"""
BACKLOG = 1500


def test_retries_under_load_follow_the_policy(tmp_path: Path) -> None:
    topic = f"spacing-{time.monotonic_ns()}"
    attempts: list[float] = []
    delivered: list[float] = []

    async def subscribe(request: Request) -> Response:
        return JSONResponse([{"pubsubname": "pubsub", "topic": topic, "route": "/events"}])

    async def events(request: Request) -> Response:
        event = json.loads(await request.body())
        if event.get("data") == {"fail": True}:
            attempts.append(time.monotonic())
            return Response(status_code=500)
        await asyncio.sleep(0.1)  # a subscriber doing some work (I/O bound: little CPU)
        delivered.append(time.monotonic())
        return JSONResponse({"status": "SUCCESS"})

    async def healthz(request: Request) -> Response:
        return Response(status_code=200)

    app = Starlette(
        routes=[
            Route("/dapr/subscribe", subscribe),
            Route("/healthz", healthz),
            Route("/events", events, methods=["POST"]),
        ]
    )
    server = AppServer(app).start()
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    http, grpc_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "funchost.sidecar.runner", "--app-port", str(server.port)]
    cmd += ["--http-port", str(http), "--grpc-port", str(grpc_port), "--db", str(tmp_path / "d.db")]
    cmd += ["--resources-path", str(resources)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline()
        with dapr_client(http, grpc_port) as client:
            client.publish_event(
                "pubsub", topic, json.dumps({"fail": True}), data_content_type="application/json"
            )
            for start in range(0, BACKLOG, 100):
                client.publish_events(
                    "pubsub",
                    topic,
                    [json.dumps({"n": n}) for n in range(start, start + 100)],
                    data_content_type="application/json",
                )
            published = time.monotonic()
        deadline = time.monotonic() + 60
        while len(attempts) < 9 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        code, err = stop(proc)
        server.stop()
    assert len(attempts) == 9, (attempts, err)
    # the gaps while the backlog is queued (not while this test is still publishing it)
    gaps = [round((b - a) * 1000) for a, b in itertools.pairwise(attempts) if a >= published]
    assert len(gaps) >= 4, f"publishing took too long to measure under load: {attempts}"
    backlog_left = sum(1 for t in delivered if t > attempts[-1])
    assert backlog_left > 0, f"the backlog was drained before the last retry: not under load {gaps}"
    # the policy's spacing within 20% (median); no retry early, none held back by the backlog
    # (before the fix they were 1.4-2.3 s apart); one late by a scheduler hiccup of a busy
    # 2-core machine is not the policy's doing, so single gaps may reach 1.5x
    assert 160 <= statistics.median(gaps) <= 240, f"retry gaps {gaps} ms, policy 200 ms"
    assert all(160 <= g <= 300 for g in gaps), f"retry gaps {gaps} ms, policy 200 ms"
    assert code == 0, err
