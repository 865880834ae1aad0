"""`funchost db check|backup|vacuum`: the sidecar database of a running or stopped app.

- `check DB`: the `-wal` checked as SQLite's recovery would read it (store_check.py), then
  `PRAGMA quick_check`; exit 1 on damage. `--salvage` (app stopped) keeps what SQLite can
  recover: the WAL's valid prefix is checkpointed into the `.db`, the rest is dropped.
- `backup DB DEST`: an online, consistent copy with SQLite's backup API (safe while the app runs).
- `vacuum DB`: rebuild the file to reclaim free pages (waits for the app's write lock).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from funchost.commands.common import console, err_console

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


def register(app: typer.Typer) -> None:
    """Add the `db` command group to the funchost typer app."""
    app.add_typer(db_app, name="db")
