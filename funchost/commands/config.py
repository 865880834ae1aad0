"""`funchost config set/get/list`: configuration items of a running app, or of its database.

By default the commands talk to a running sidecar over HTTP (`--sidecar`, as `funchost send`):
`get`/`list` use Dapr's `GET /v1.0/configuration/<store>`, `set` uses the embedded sidecar's
`PUT /funchost/v1/configuration/<store>`, which notifies subscribers at once. With `--db` they
read or write the embedded store (`configuration.sqlite`) straight in a stopped app's database
file (`.funchost/<app-id>.db`), through `funchost.commands.sidecar` (the host modules that may
touch the sidecar). Imports nothing heavy until a command runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

config_app = typer.Typer(
    help="Configuration items (Dapr Configuration API) of a running app or its database."
)

StoreArg = Annotated[str, typer.Argument(help="Configuration store name (e.g. configstore).")]
SidecarOpt = Annotated[
    str, typer.Option("--sidecar", help="Sidecar HTTP URL.", envvar="FUNCHOST_SIDECAR_URL")
]
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Use a stopped app's sidecar database file instead (embedded store only).",
        envvar="FUNCHOST_CONFIG_DB",
    ),
]


def _headers() -> dict[str, str]:
    token = os.environ.get("DAPR_API_TOKEN")
    return {"dapr-api-token": token} if token else {}


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _http(method: str, url: str, **kwargs: Any) -> Any:
    import httpx

    try:
        resp = httpx.request(method, url, headers=_headers(), timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        _fail(
            f"no sidecar answers at {url} ({exc}): start the app with `funchost run PATH`, "
            "pass --sidecar with its HTTP URL, or --db with its database file"
        )
    if resp.status_code == 204:
        return {}
    if resp.status_code >= 300:
        try:
            body = resp.json()
            detail = f"{body.get('errorCode')}: {body.get('message')}"
        except ValueError:
            detail = resp.text
        _fail(f"{url} answered {resp.status_code}: {detail}")
    return resp.json()


def _read_db(db: Path, store: str, keys: list[str]) -> dict[str, Any]:
    if not db.exists():
        _fail(f"{db}: no such database file (run the app once, or check --state-dir)")
    from funchost.commands.sidecar import read_config_items

    return read_config_items(db, store, keys)


def _get(store: str, keys: list[str], sidecar: str, db: Path | None) -> dict[str, Any]:
    if db is not None:
        return _read_db(db, store, keys)
    return dict(
        _http("GET", f"{sidecar.rstrip('/')}/v1.0/configuration/{store}", params={"key": keys})
    )


@config_app.command("get")
def get_cmd(
    store: StoreArg,
    keys: Annotated[list[str], typer.Argument(help="Keys to read.")],
    sidecar: SidecarOpt = "http://127.0.0.1:3500",
    db: DbOpt = None,
) -> None:
    """Print items KEYS of STORE as JSON (missing keys are left out)."""
    typer.echo(json.dumps(_get(store, keys, sidecar, db), indent=2))


@config_app.command("list")
def list_cmd(
    store: StoreArg, sidecar: SidecarOpt = "http://127.0.0.1:3500", db: DbOpt = None
) -> None:
    """Print every item of STORE as JSON."""
    typer.echo(json.dumps(_get(store, [], sidecar, db), indent=2))


@config_app.command("set")
def set_cmd(
    store: StoreArg,
    pairs: Annotated[
        list[str], typer.Argument(help="KEY=VALUE items to write; KEY= alone deletes KEY.")
    ],
    version: Annotated[
        str | None,
        typer.Option("--version", help="Version for every item (default: previous + 1)."),
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="key=value (repeatable).")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the KEYs instead.")] = False,
    sidecar: SidecarOpt = "http://127.0.0.1:3500",
    db: DbOpt = None,
) -> None:
    """Write items of STORE; subscribers of a running app are notified."""
    meta: dict[str, str] = {}
    for item in metadata or []:
        k, sep, v = item.partition("=")
        if not sep:
            _fail(f"metadata '{item}' must look like key=value")
        meta[k] = v
    items: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not key or (not sep and not delete):
            _fail(f"'{pair}' must look like KEY=VALUE (or pass --delete with KEYs)")
        items[key] = (
            None if delete else {"value": value, "version": version or "", "metadata": meta}
        )
    if db is None:
        url = f"{sidecar.rstrip('/')}/funchost/v1/configuration/{store}"
        typer.echo(json.dumps(_http("PUT", url, json=items), indent=2))
        return
    from funchost.commands.sidecar import ConfigDbInUse, write_config_items

    try:
        written = write_config_items(db, store, items)
    except ConfigDbInUse as exc:
        _fail(str(exc))
    typer.echo(json.dumps(written, indent=2))


def register(app: typer.Typer) -> None:
    """Add `funchost config ...` to the CLI."""
    app.add_typer(config_app, name="config")
