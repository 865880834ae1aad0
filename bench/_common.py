"""Helpers the benchmarks share (each bench runs as `python bench/NAME.py`, so this folder is on
sys.path)."""

from __future__ import annotations

import time


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers below 500, or raise TimeoutError after `timeout` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)
