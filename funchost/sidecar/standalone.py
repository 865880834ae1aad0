"""`funchost sidecar` once its options are parsed: the CLI replaces itself (exec) with this module.

The sidecar process then holds the sidecar only, not the CLI (typer, click, rich and the host's
commands: about 10 MB of a resting `funchost sidecar`). Same PID, so signals and supervisors see
one process; the configuration travels as JSON on the command line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from .config import SidecarConfig


def encode(config: SidecarConfig) -> str:
    """`config` as JSON (paths as strings)."""
    return json.dumps(dataclasses.asdict(config), default=str)


def decode(text: str) -> SidecarConfig:
    """The `SidecarConfig` that `encode` wrote."""
    data: dict[str, Any] = json.loads(text)
    data["resources_paths"] = [Path(p) for p in data.get("resources_paths") or []]
    if data.get("config_path"):
        data["config_path"] = Path(data["config_path"])
    return SidecarConfig(**data)


def exec_sidecar(config: SidecarConfig) -> None:
    """Replace this process with a sidecar serving `config` (does not return)."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "funchost.sidecar.standalone", encode(config)]
    os.execv(sys.executable, argv)


def main(argv: list[str] | None = None) -> None:
    """Serve the JSON configuration in argv[0] until SIGINT/SIGTERM; errors exit 1."""
    from .runner import run_sidecar_forever

    args = sys.argv[1:] if argv is None else argv
    config = decode(args[0])

    def ready(sc: Any) -> None:
        print(
            f"funchost sidecar for '{config.app_id}': HTTP {sc.http_url}  gRPC "
            f"{sc.grpc_address}  app port {config.app_port}  db {config.db_path}",
            flush=True,
        )

    try:
        run_sidecar_forever(config, ready=ready)
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
