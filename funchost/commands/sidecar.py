"""`funchost sidecar`, `funchost send binding`, `funchost outbox`, `funchost apps`, `funchost db`:
the embedded sidecar alone, what talks to running ones and to an app's database (cli.py declares
the options of the first four; `register_db` adds the `db` group); and the database-file side of
`funchost config` (commands/config.py).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer

from funchost.commands.common import console, err_console, unreachable


def sidecar(
    app_id: str,
    app_port: int | None,
    resources_path: list[Path] | None,
    state_dir: Path,
    dapr_http_port: int,
    dapr_grpc_port: int,
    max_body_size: str,
    **options: Any,
) -> None:
    """`funchost sidecar`: run the embedded sidecar alone until Ctrl-C.

    `options` are further `SidecarConfig` fields (`app_protocol`, `enable_app_health_check`,
    `app_health_*`, `config_path`)."""
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
        max_body_size=body_size(max_body_size),
        namespace=os.environ.get("NAMESPACE") or None,
        register=True,  # found by app id from the other apps on this machine
        **options,
    )

    from funchost.sidecar.standalone import exec_sidecar

    # The options are parsed: serve from a fresh image of this process, without the CLI in it.
    exec_sidecar(config)


def body_size(text: str) -> int:
    """Bytes of a --dapr-max-body-size quantity (4Mi, 16M, 1048576); exit 1 when invalid."""
    from funchost.sidecar.limits import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dapr-max-body-size") from None


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
    if status == 404 and b'"errorCode"' not in body:  # the app's 404, not the sidecar's
        err_console.print(
            f"[bold red]error:[/] the app has no handler for input binding {name!r} (it answered "
            f"404 to POST /{name}): decorate a function with @binding({name!r}); `funchost list "
            "PATH` shows the bindings the app handles",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
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


class ConfigDbInUse(Exception):
    """A running sidecar owns the database: write through it so its subscribers are told."""


def _refuse_if_running(db: Path) -> None:
    import fcntl

    lock = Path(f"{db}.lock")
    if not lock.exists():
        return
    with lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            raise ConfigDbInUse(
                f"{db} belongs to a running sidecar (pid {pid}): write through it with "
                "--sidecar URL so its subscribers are notified"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)


def read_config_items(db: Path, store: str, keys: list[str]) -> dict[str, Any]:
    """`funchost config get/list --db`: items of embedded store `store` in a database file."""
    from funchost.sidecar.configuration.sqlite import read_items
    from funchost.sidecar.store import Store

    handle = Store(db)
    try:
        return {k: v.to_json() for k, v in read_items(handle, store, keys).items()}
    finally:
        handle.close()


def write_config_items(db: Path, store: str, items: dict[str, Any]) -> dict[str, Any]:
    """`funchost config set --db`: write (None deletes) items of a stopped app's database."""
    from funchost.sidecar.configuration._store import ConfigItem
    from funchost.sidecar.configuration.sqlite import set_items
    from funchost.sidecar.store import Store

    _refuse_if_running(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    handle = Store(db)
    try:
        written = set_items(
            handle,
            store,
            {
                k: None if v is None else ConfigItem(v["value"], v["version"], v["metadata"])
                for k, v in items.items()
            },
        )
    finally:
        handle.close()
    return {k: v.to_json() for k, v in written.items()}


# -- `funchost db check|backup|vacuum`: the sidecar database of a running or stopped app -------
# check DB: the -wal checked as SQLite's recovery reads it (sidecar/store_check.py), then
#   PRAGMA quick_check; exit 1 on damage; --salvage (app stopped) keeps what SQLite recovers.
# backup DB DEST: an online, consistent copy with SQLite's backup API (the app keeps running).
# vacuum DB: rebuild the file to reclaim free pages (waits for the app's write lock).

db_app = typer.Typer(help="Check, back up or vacuum an app's sidecar database (.funchost/APP.db).")

DbArg = Annotated[Path, typer.Argument(help="the database file, e.g. .funchost/myapp.db")]


def _exists(db: Path) -> None:
    if not db.is_file():
        err_console.print(
            f"[bold red]error:[/] {db} does not exist: pass the app's database "
            "(--state-dir/APP_ID.db, .funchost/ by default)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@db_app.command("check")
def check(
    db: DbArg,
    salvage: Annotated[
        bool,
        typer.Option(help="accept the loss: keep what SQLite recovers from a damaged -wal"),
    ] = False,
) -> None:
    """Refuse (exit 1) a damaged database or -wal; say who holds its lock."""
    from funchost.sidecar.store_check import (
        describe_pids,
        lock_holders,
        quick_check,
        wal_damage,
    )

    _exists(db)
    holders = lock_holders(db)
    if holders:
        console.print(f"in use by {describe_pids(holders)}", highlight=False)
    damage = wal_damage(db)
    if damage is not None and not salvage:
        _fail(f"{damage}: restore a backup, or rerun with --salvage (app stopped)")
    conn = sqlite3.connect(db, timeout=10.0)
    try:
        if damage is not None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            console.print(f"salvaged: kept the first {damage.valid_frames} WAL frames")
        problem = quick_check(conn)
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    finally:
        conn.close()
    if problem is not None:
        _fail(f"{db} is damaged (PRAGMA quick_check: {problem}): restore a backup")
    console.print(f"{db}: ok", highlight=False)


@db_app.command("backup")
def backup(
    db: DbArg,
    dest: Annotated[Path, typer.Argument(help="the copy to write (replaced if it exists)")],
) -> None:
    """A consistent copy of DB (SQLite online backup: the running app keeps working)."""
    _exists(db)
    src = sqlite3.connect(db, timeout=10.0)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    out = sqlite3.connect(tmp)
    try:
        src.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
    except sqlite3.Error as exc:
        _fail(f"backup of {db} failed: {exc}")
    finally:
        out.close()
        src.close()
    tmp.replace(dest)
    console.print(f"backed up {db} -> {dest}", highlight=False)


@db_app.command("vacuum")
def vacuum(db: DbArg) -> None:
    """Rebuild DB to reclaim free space (a running app's writes wait for it)."""
    _exists(db)
    before = db.stat().st_size
    conn = sqlite3.connect(db, timeout=30.0, isolation_level=None)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        _fail(f"vacuum of {db} failed: {exc}")
    finally:
        conn.close()
    console.print(f"vacuumed {db}: {before} -> {db.stat().st_size} bytes", highlight=False)


def register_db(app: typer.Typer) -> None:
    """Add the `db` command group to the funchost typer app."""
    app.add_typer(db_app, name="db")


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
