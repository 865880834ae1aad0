"""Readiness for scripts: `funchost run --ready-file PATH` and `funchost wait`.

```bash
funchost run functions/ --ready-file .funchost/ready &
funchost wait --timeout 60          # exit 0 once the app and its sidecar answer, 1 on timeout
```

The ready file is written atomically (a temporary file renamed over PATH) once the sidecar has
found the app and every subsystem read its configuration, and removed when `funchost run`
exits; it holds a JSON document (pid, URLs, seconds from process start to ready).
`funchost wait` polls the app's ``/healthz`` and the sidecar's ``/v1.0/healthz`` (which, as in
daprd, answers 204 only once the app is reachable), or waits for a ready file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register", "remove_ready_file", "wait_ready", "write_ready_file"]


def write_ready_file(path: Path, info: dict[str, Any]) -> None:
    """Write ``info`` as JSON to ``path`` atomically (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_ready_file(path: Path) -> None:
    """Remove the ready file (missing is fine)."""
    path.unlink(missing_ok=True)


def _answers(client: Any, url: str) -> str | None:
    """None when ``url`` answers 2xx, else why not (for the timeout message)."""
    import httpx

    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"{url}: {type(exc).__name__}"
    if response.is_success:
        return None
    return f"{url}: HTTP {response.status_code}"


def wait_ready(
    app_url: str | None,
    sidecar_url: str | None,
    ready_file: Path | None,
    timeout: float,
    interval: float = 0.1,
) -> str | None:
    """Poll until every given check passes; None when ready, else the last reason it was not."""
    import httpx

    deadline = time.monotonic() + timeout
    reason: str | None = "not checked yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            reasons = []
            if ready_file is not None and not ready_file.is_file():
                reasons.append(f"no ready file {ready_file}")
            if app_url is not None:
                reasons.append(_answers(client, app_url.rstrip("/") + "/healthz") or "")
            if sidecar_url is not None:
                reasons.append(_answers(client, sidecar_url.rstrip("/") + "/v1.0/healthz") or "")
            reason = "; ".join(r for r in reasons if r) or None
            if reason is None or time.monotonic() >= deadline:
                return reason
            time.sleep(interval)


def wait_cmd(
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", help="Seconds to wait before failing.", envvar="FUNCHOST_WAIT_TIMEOUT"
        ),
    ] = 60.0,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The app's URL (default http://127.0.0.1:PORT).",
            envvar="FUNCHOST_APP_URL",
        ),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", help="The app's port.", envvar="FUNCHOST_APP_PORT")
    ] = 8000,
    sidecar: Annotated[
        str | None,
        typer.Option(
            "--sidecar",
            help="The sidecar's HTTP URL (default http://127.0.0.1:DAPR_HTTP_PORT).",
            envvar="FUNCHOST_SIDECAR_URL",
        ),
    ] = None,
    dapr_http_port: Annotated[
        int,
        typer.Option(
            "--dapr-http-port", help="Sidecar HTTP port.", envvar="FUNCHOST_DAPR_HTTP_PORT"
        ),
    ] = 3500,
    no_sidecar: Annotated[
        bool, typer.Option("--no-sidecar", help="Check only the app (`funchost serve` alone).")
    ] = False,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            "--ready-file",
            help="Also wait for this file (`funchost run --ready-file`).",
            envvar="FUNCHOST_READY_FILE",
        ),
    ] = None,
) -> None:
    """Wait until a running app and its sidecar are ready: exit 0, or 1 after --timeout."""
    from rich.console import Console

    app_url = url or f"http://127.0.0.1:{port}"
    sidecar_url = None if no_sidecar else (sidecar or f"http://127.0.0.1:{dapr_http_port}")
    started = time.monotonic()
    reason = wait_ready(app_url, sidecar_url, ready_file, timeout)
    if reason is None:
        Console().print(
            f"ready: {app_url} (after {time.monotonic() - started:.1f} s)", highlight=False
        )
        return
    Console(stderr=True).print(
        f"[bold red]error:[/] not ready after {timeout:g} s ({reason}): is `funchost run` "
        "running? Pass --url/--port and --sidecar/--dapr-http-port when it uses other ports, "
        "or a longer --timeout",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `funchost wait`."""
    app.command("wait")(wait_cmd)
