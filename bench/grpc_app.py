"""gRPC app channel benchmark: a `dapr.ext.grpc.App` behind the embedded sidecar.

The sidecar runs as its own process (`python -m funchost.sidecar.runner --app-protocol grpc`),
the App (the Dapr SDK's gRPC app server, 10 threads) in this process. Measured: service
invocation through the sidecar (`DaprClient.invoke_method` over gRPC -> `OnInvoke`), latency
p50/p99 of sequential calls; and topic delivery, events/s from the first publish until the App
has received all of them (`OnTopicEvent`, each event committed to SQLite first). The last line
is one JSON object.

    python bench/grpc_app.py [--calls 500] [--events 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dapr.ext.grpc import App, InvokeMethodRequest, SubscriptionMessage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=500)
    p.add_argument("--events", type=int, default=2000)
    args = p.parse_args()

    from dapr.clients import DaprClient

    from funchost.sidecar import free_port

    app = App()
    received = {"n": 0}
    done = threading.Event()
    lock = threading.Lock()

    @app.method(name="echo")
    def echo(request: InvokeMethodRequest) -> bytes:
        return request.data

    @app.subscribe(pubsub_name="pubsub", topic="bench")
    def on_event(event: SubscriptionMessage) -> None:
        with lock:
            received["n"] += 1
            if received["n"] >= args.events:
                done.set()

    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    server = threading.Thread(target=app.run, args=(app_port, "127.0.0.1"), daemon=True)
    server.start()
    tmp = tempfile.mkdtemp(prefix="bench-grpc-app-")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "funchost.sidecar.runner",
            "--app-id",
            "bench",
            "--app-port",
            str(app_port),
            "--app-protocol",
            "grpc",
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--db",
            str(Path(tmp) / "sidecar.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert sidecar.stdout is not None
        sidecar.stdout.readline()  # {"http": ..., "grpc": ...} once it listens
        os.environ["DAPR_HTTP_PORT"] = str(http_port)
        os.environ["DAPR_API_METHOD_INVOCATION_PROTOCOL"] = "grpc"
        with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:
            for _ in range(200):  # wait until the sidecar read the App's subscriptions
                if client.invoke_method("bench", "echo", data=b"x").data == b"x":
                    break
            latencies = []
            for i in range(args.calls):
                t0 = time.perf_counter()
                client.invoke_method("bench", "echo", data=str(i).encode())
                latencies.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            for i in range(args.events):
                client.publish_event("pubsub", "bench", json.dumps({"i": i}))
            published = time.perf_counter() - t0
            if not done.wait(120):
                raise SystemExit(f"only {received['n']} of {args.events} events delivered")
            elapsed = time.perf_counter() - t0
    finally:
        sidecar.terminate()
        sidecar.wait(15)
        app.stop()
    latencies.sort()
    result = {
        "invoke_calls": args.calls,
        "invoke_p50_ms": round(statistics.median(latencies), 2),
        "invoke_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "events": args.events,
        "publish_seconds": round(published, 2),
        "delivered_events_per_s": round(args.events / elapsed),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
