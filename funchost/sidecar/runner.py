"""Helpers the CLI uses to run the embedded sidecar and talk to it.

- `run_sidecar_forever(config)`: blocking; serves until SIGINT/SIGTERM (or gRPC Shutdown), then
  stops cleanly (`funchost sidecar`).
- `default_resources_paths(functions_dir)`: `components/` and `bindings/` next to the folder.
- `send_binding(http_url, name, data)`: feed an input binding locally (`funchost send binding`).
- `list_outbox(db_path or http_url)`: output-binding calls recorded locally (`funchost outbox`).

`python -m funchost.sidecar.runner --app-id ID --app-port N ...` runs a sidecar alone (used by
subprocess tests and the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import SidecarConfig
from .limits import parse_size

if TYPE_CHECKING:
    from .clock import Clock
    from .server import Sidecar

log = logging.getLogger("funchost.sidecar")


def default_resources_paths(functions_dir: str | Path) -> list[Path]:
    """The resources folders daprd would get for a functions folder: existing `components/` and
    `bindings/` next to it (its parent), then inside it."""
    base = Path(functions_dir).resolve()
    paths: list[Path] = []
    for root in (base.parent, base):
        for name in ("components", "bindings"):
            candidate = root / name
            if candidate.is_dir() and candidate not in paths:
                paths.append(candidate)
    return paths


async def _serve(config: SidecarConfig, clock: Clock | None, ready: Any = None) -> None:
    from .server import Sidecar  # here, not at import: the CLI imports this module

    sidecar = Sidecar(config, clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-main thread
            loop.add_signal_handler(sig, stop.set)
    sidecar.on_shutdown = stop.set
    await sidecar.start()
    if ready is not None:
        ready(sidecar)
    try:
        await stop.wait()
    finally:
        await sidecar.stop()


def run_sidecar_forever(
    config: SidecarConfig, clock: Clock | None = None, ready: Any = None
) -> None:
    """Run the sidecar until SIGINT/SIGTERM; `ready(sidecar)` is called once it listens.

    Raises `ComponentError` (bad resources) or `OSError` (port taken) before serving.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(_serve(config, clock, ready))
    else:
        uvloop.run(_serve(config, clock, ready))


def _data_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data).encode()


def send_binding(
    http_url: str,
    name: str,
    data: Any,
    metadata: dict[str, str] | None = None,
    api_token: str | None = None,
    timeout: float = 60.0,
) -> tuple[int, bytes]:
    """Deliver `data` to the app as input binding `name`; returns the app's (status, body)."""
    import httpx

    headers = {"Content-Type": "application/json"}
    if api_token:
        headers["dapr-api-token"] = api_token
    params = {f"metadata.{k}": v for k, v in (metadata or {}).items()}
    resp = httpx.post(
        f"{http_url.rstrip('/')}/funchost/v1/bindings/{name}",
        content=_data_bytes(data),
        headers=headers,
        params=params,
        timeout=timeout,
    )
    return resp.status_code, resp.content


def list_outbox(
    target: str | Path, binding: str | None = None, api_token: str | None = None
) -> list[dict[str, Any]]:
    """Outbox entries from a running sidecar (`http://...`) or straight from its database file."""
    text = str(target)
    if text.startswith(("http://", "https://")):
        import httpx

        headers = {"dapr-api-token": api_token} if api_token else {}
        params = {"binding": binding} if binding else {}
        resp = httpx.get(
            f"{text.rstrip('/')}/funchost/v1/outbox", params=params, headers=headers, timeout=30
        )
        resp.raise_for_status()
        return list(resp.json())
    from . import outbox
    from .store import Store

    if not Path(text).exists():
        return []
    store = Store(text)
    try:
        return outbox.list_outbox(store, binding)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m funchost.sidecar.runner`: the embedded sidecar alone."""
    p = argparse.ArgumentParser(prog="funchost-sidecar", description=main.__doc__)
    p.add_argument("--app-id", default="app")
    p.add_argument("--app-port", type=int, default=None)
    p.add_argument("--http-port", type=int, default=3500)
    p.add_argument("--grpc-port", type=int, default=50001)
    p.add_argument("--resources-path", action="append", default=[])
    p.add_argument("--db", default=".funchost/sidecar.db")
    p.add_argument("--api-token", default=None)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--app-protocol", default="http", choices=["http", "grpc"])
    p.add_argument("--enable-app-health-check", action="store_true")
    p.add_argument("--config", default=None, help="a Dapr Configuration YAML")
    p.add_argument("--max-body-size", default="4Mi", help="daprd's --max-body-size (4Mi)")
    p.add_argument(
        "--register", action="store_true", help="claim --app-id in the local name registry"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    config = SidecarConfig(
        app_id=args.app_id,
        app_port=args.app_port,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        resources_paths=[Path(x) for x in args.resources_path],
        db_path=args.db,
        api_token=args.api_token,
        log_level=args.log_level,
        app_protocol=args.app_protocol,
        enable_app_health_check=args.enable_app_health_check,
        config_path=Path(args.config) if args.config else None,
        max_body_size=parse_size(args.max_body_size),
        register=args.register,
    )

    def ready(sidecar: Sidecar) -> None:
        print(
            json.dumps({"http": sidecar.config.http_port, "grpc": sidecar.config.grpc_port}),
            flush=True,
        )

    run_sidecar_forever(config, ready=ready)


if __name__ == "__main__":
    main()
