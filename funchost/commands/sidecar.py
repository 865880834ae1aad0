"""`funchost sidecar`, `funchost send binding`, `funchost outbox`, `funchost apps`: the embedded
sidecar alone and what talks to running ones (cli.py declares their options).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from funchost.commands.common import console, err_console, unreachable


def sidecar(
    app_id: str,
    app_port: int | None,
    resources_path: list[Path] | None,
    state_dir: Path,
    dapr_http_port: int,
    dapr_grpc_port: int,
) -> None:
    """`funchost sidecar`: run the embedded sidecar alone until Ctrl-C."""
    from funchost.sidecar import SidecarConfig

    for p in resources_path or []:
        if not p.is_dir():
            raise typer.BadParameter(f"resources path '{p}' is not a folder")
    state_dir.mkdir(parents=True, exist_ok=True)
    config = SidecarConfig(
        app_id=app_id,
        app_port=app_port,
        http_port=dapr_http_port,
        grpc_port=dapr_grpc_port,
        resources_paths=[p.resolve() for p in resources_path or []],
        db_path=state_dir.resolve() / f"{app_id}.db",
        app_api_token=os.environ.get("APP_API_TOKEN") or None,
        api_token=os.environ.get("DAPR_API_TOKEN") or None,
        app_protocol=os.environ.get("APP_PROTOCOL") or "http",
        namespace=os.environ.get("NAMESPACE") or None,
        register=True,  # found by app id from the other apps on this machine
    )

    from funchost.sidecar.runner import run_sidecar_forever

    def ready(sc: Any) -> None:
        console.print(
            f"funchost sidecar for '{app_id}': HTTP {sc.http_url}  gRPC {sc.grpc_address}  "
            f"app port {app_port}  db {config.db_path}",
            highlight=False,
        )

    try:
        run_sidecar_forever(config, ready=ready)
    except Exception as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc


def metadata_pairs(values: list[str] | None) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"metadata '{item}' must look like key=value")
        out[key] = value
    return out


def send_binding_cmd(name: str, data: str, metadata: list[str] | None, sidecar_url: str) -> None:
    """`funchost send binding`: deliver DATA to the app as input binding NAME."""
    import httpx

    from funchost.sidecar.runner import send_binding

    try:
        status, body = send_binding(
            sidecar_url,
            name,
            data,
            metadata_pairs(metadata),
            os.environ.get("DAPR_API_TOKEN") or None,
        )
    except httpx.HTTPError as exc:
        unreachable(sidecar_url, exc)
    console.print(f"{status} {body.decode(errors='replace')}", highlight=False)
    if status >= 300:
        raise typer.Exit(1)


def outbox(binding: str | None, sidecar_url: str, db: Path | None) -> None:
    """`funchost outbox`: what functions sent to output bindings."""
    import json

    import httpx

    from funchost.sidecar.runner import list_outbox

    target: str | Path = db if db is not None else (sidecar_url or "http://127.0.0.1:3500")
    try:
        entries = list_outbox(target, binding, os.environ.get("DAPR_API_TOKEN") or None)
    except httpx.HTTPError as exc:
        unreachable(str(target), exc)
    typer.echo(json.dumps(entries, indent=2, default=str))


def list_apps(as_json: bool = False) -> None:
    """`funchost apps`: every live app in the local name registry (stale entries cleaned)."""
    import json
    from dataclasses import asdict

    from rich.table import Table

    from funchost.sidecar import resolution

    found = resolution.list_apps()
    if as_json:
        console.print_json(json.dumps([asdict(a) for a in found]))
        return
    if not found:
        console.print(
            f"no apps running (registry {resolution.registry_dir()}): start one with "
            "`funchost run PATH`, `funchost run -f dapr.yaml` or `funchost sidecar --app-id ID`",
            highlight=False,
        )
        return
    table = Table("app id", "namespace", "pid", "sidecar HTTP", "sidecar gRPC", "app port")
    for a in found:
        table.add_row(
            a.app_id,
            a.namespace,
            str(a.pid),
            str(a.http_port),
            str(a.grpc_port),
            str(a.app_port or "-"),
        )
    console.print(table)
