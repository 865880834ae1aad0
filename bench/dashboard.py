"""The dashboard's workflow list over 10,000 instances: page load p50/p99 (goal: under 1 s).

Run from the repo root: `python bench/dashboard.py` (under a minute). Fast path: the instances are
written straight into a sidecar database (the `wf_instances` rows the engine writes: 80%
COMPLETED, 10% FAILED, 10% RUNNING), then two processes as users run them: the embedded sidecar
(`funchost sidecar`) on that database and `funchost dashboard` pointed at it. Measured:

- api: `GET /api/workflows?offset=..&limit=50` on the dashboard (what the page fetches: the
  dashboard asks the sidecar's indexed, paged `/funchost/v1/workflows`), first / middle / last
  page, and the last page of a status filter;
- browser (when Debian's Chromium and Playwright are installed): from navigating to
  `#/workflows?page=N` to the rendered table of that page.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from funchost.sidecar import free_port  # noqa: E402
from funchost.sidecar.store import Store  # noqa: E402
from funchost.sidecar.workflows.backend import Backend  # noqa: E402
from funchost.sidecar.workflows.state import Instance  # noqa: E402

PAGE = 50
CHROMIUM = "/usr/bin/chromium"


def populate(db: Path, count: int) -> None:
    """`count` workflow instances, as the engine stores them, in one transaction."""
    store = Store(db)
    backend = Backend(store)
    now = time.time() - count
    with store.tx() as conn:
        for i in range(count):
            status = 3 if i % 10 == 3 else 0 if i % 10 == 7 else 1  # FAILED / RUNNING / COMPLETED
            created = now + i
            inst = Instance(
                f"order-{i:05d}",
                "order_processing",
                uuid.uuid4().hex,
                status,
                created,
                created + 0.5,
                input=json.dumps({"order": i}),
                output=None if status == 0 else json.dumps({"ok": status == 1}),
                completed=None if status == 0 else created + 0.5,
            )
            backend.save_instance(conn, inst)
    store.close()


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from funchost.cli import main; main()", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(url: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 2), "p99": round(p99, 2)}


def measure_api(base: str, pages: dict[str, dict[str, Any]], rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=30) as http:
        for name, params in pages.items():
            samples = []
            for _ in range(rounds):
                start = time.perf_counter()
                resp = http.get("/api/workflows", params={**params, "limit": PAGE})
                resp.raise_for_status()
                assert resp.json()["items"], f"page {name} is empty"
                samples.append((time.perf_counter() - start) * 1000)
            out[name] = _figures(samples)
    return out


def measure_browser(base: str, pages: dict[str, int], rounds: int) -> dict[str, Any] | str:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "skipped: playwright is not installed"
    if not Path(CHROMIUM).exists():
        return f"skipped: no Chromium at {CHROMIUM}"
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        page.goto(base + "/#/workflows")
        page.wait_for_selector("[data-testid=wf-list]")
        for name, number in pages.items():
            samples = []
            for i in range(rounds):
                page.goto(base + "/#/overview")  # leave, then come back to the list page
                page.wait_for_selector("[data-testid=queues]")
                start = time.perf_counter()
                page.goto(f"{base}/#/workflows?page={number}&r={i}")
                page.wait_for_selector(f"[data-testid=page]:has-text('page {number} of')")
                samples.append((time.perf_counter() - start) * 1000)
            out[name] = _figures(samples)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--browser-rounds", type=int, default=8)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        started = time.perf_counter()
        populate(state / "bench.db", opts.instances)
        populate_s = time.perf_counter() - started
        http_port, grpc_port, board_port = free_port(), free_port(), free_port()
        env_port = ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)]
        sidecar = _spawn("sidecar", "--app-id", "bench", "--state-dir", str(state), *env_port)
        board = _spawn(
            "dashboard", "--app-url", "http://127.0.0.1:9", *env_port, "--port", str(board_port)
        )
        try:
            base = f"http://127.0.0.1:{board_port}"
            _wait(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound")
            _wait(f"{base}/api/workflows?limit=1")
            last = (opts.instances - 1) // PAGE
            failed_last = (opts.instances // 10 - 1) // PAGE
            api = measure_api(
                base,
                {
                    "first": {"offset": 0},
                    "middle": {"offset": last // 2 * PAGE},
                    "last": {"offset": last * PAGE},
                    "failed_last": {"offset": failed_last * PAGE, "status": "FAILED"},
                    "search": {"q": "order-0999"},
                },
                opts.rounds,
            )
            browser = measure_browser(
                base,
                {"first": 1, "middle": last // 2 + 1, "last": last + 1},
                opts.browser_rounds,
            )
        finally:
            for proc in (board, sidecar):
                proc.terminate()
                proc.wait(15)
    worst = max(f["p99"] for f in api.values())
    if isinstance(browser, dict):
        worst = max(worst, *(f["p99"] for f in browser.values()))
    result = {
        "bench": "dashboard_workflow_list",
        "instances": opts.instances,
        "page_size": PAGE,
        "populate_s": round(populate_s, 2),
        "api_ms": api,
        "browser_ms": browser,
        "worst_p99_ms": worst,
        "goal_ms": 1000,
        "under_goal": worst < 1000,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
