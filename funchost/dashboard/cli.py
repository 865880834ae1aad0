"""Commands `funchost dashboard` and `funchost deadletters list|redrive|discard` (added to the
CLI by `register(app)`, listed in `funchost.cli.EXTENSIONS`); `start_for_run` is what
`funchost run` calls to serve the dashboard next to the app."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["register", "start_for_apps", "start_for_run"]

AppUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--app-url",
        help="The app's base URL [default: http://127.0.0.1:$APP_PORT or :8000].",
        envvar="FUNCHOST_APP_URL",
    ),
]
HttpPortOpt = Annotated[
    int | None,
    typer.Option(
        "--dapr-http-port",
        help="The sidecar's HTTP port [default: $DAPR_HTTP_PORT or 3500].",
        envvar="FUNCHOST_DAPR_HTTP_PORT",
    ),
]
GrpcPortOpt = Annotated[
    int | None,
    typer.Option(
        "--dapr-grpc-port",
        help="The sidecar's gRPC port [default: $DAPR_GRPC_PORT or 50001].",
        envvar="FUNCHOST_DAPR_GRPC_PORT",
    ),
]
SidecarUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--sidecar",
        help="The sidecar's HTTP URL [default: http://127.0.0.1:$DAPR_HTTP_PORT or :3500].",
        envvar="FUNCHOST_SIDECAR_URL",
    ),
]


def _token() -> str | None:
    """The dashboard's token: DAPR_API_TOKEN, else APP_API_TOKEN, else none."""
    return os.environ.get("DAPR_API_TOKEN") or os.environ.get("APP_API_TOKEN") or None


def _targets(app_url: str, sidecar_url: str, grpc_address: str) -> Any:
    from ._sources import Targets

    return Targets(
        app_url=app_url,
        sidecar_url=sidecar_url,
        grpc_address=grpc_address,
        api_token=os.environ.get("DAPR_API_TOKEN") or None,
        app_token=os.environ.get("APP_API_TOKEN") or None,
    )


def start_for_run(
    host: str,
    app_port: int,
    sidecar_url: str,
    grpc_address: str,
    port: int,
    app_id: str = "",
) -> tuple[Any, str]:
    """The dashboard of a `funchost run` app, its port bound: (a `DeferredDashboard` to
    `start()` once the app answers, or None; its URL or why not).

    It shows this app first, and every other app running on this machine (the registry)."""
    from .server import DeferredDashboard, bind

    try:
        sock = bind("127.0.0.1", port)
    except OSError as exc:
        return None, str(exc)

    def build() -> Any:
        from ._apps import Catalog
        from .app import create_dashboard

        app_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        targets = _targets(f"http://{app_host}:{app_port}", sidecar_url, grpc_address)
        catalog = Catalog(targets, fixed_id=app_id, registry=True)
        return create_dashboard(targets, token=_token(), catalog=catalog)

    board = DeferredDashboard(sock, build)
    return board, board.url


def start_for_apps(port: int, preferred: list[str]) -> tuple[Any, str]:
    """Serve ONE dashboard for the apps of `funchost run -f` (found in the registry, the first
    of `preferred` shown first) in a thread: (thread or None, URL or why not)."""
    from ._apps import Catalog
    from .app import create_dashboard
    from .server import start_in_thread

    catalog = Catalog(
        registry=True,
        preferred=preferred,
        api_token=os.environ.get("DAPR_API_TOKEN") or None,
        app_token=os.environ.get("APP_API_TOKEN") or None,
    )
    return start_in_thread(
        create_dashboard(None, token=_token(), catalog=catalog), "127.0.0.1", port
    )


def dashboard(
    app_url: AppUrlOpt = None,
    dapr_http_port: HttpPortOpt = None,
    dapr_grpc_port: GrpcPortOpt = None,
    port: Annotated[
        int,
        typer.Option("--port", help="Dashboard port.", envvar="FUNCHOST_DASHBOARD_PORT"),
    ] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind.", envvar="FUNCHOST_DASHBOARD_HOST")
    ] = "127.0.0.1",
) -> None:
    """Serve the web dashboard of the running apps and their sidecars until Ctrl-C.

    With no target (no option, no APP_PORT / DAPR_HTTP_PORT): every app in the local registry,
    switched in the header; with one: that app first, and the registered ones too."""
    import uvicorn

    from ._apps import Catalog
    from .app import create_dashboard
    from .server import bind

    aimed = bool(app_url or dapr_http_port or dapr_grpc_port or os.environ.get("APP_PORT")) or bool(
        os.environ.get("DAPR_HTTP_PORT")
    )
    http = dapr_http_port or int(os.environ.get("DAPR_HTTP_PORT", "3500"))
    grpc = dapr_grpc_port or int(os.environ.get("DAPR_GRPC_PORT", "50001"))
    app = app_url or f"http://127.0.0.1:{os.environ.get('APP_PORT', '8000')}"
    targets = _targets(app, f"http://127.0.0.1:{http}", f"127.0.0.1:{grpc}")
    catalog = Catalog(targets, weak=not aimed, registry=True)
    try:
        sock = bind(host, port)
    except OSError as exc:
        Console(stderr=True).print(
            f"[bold red]error:[/] {exc}: stop what listens there or pass --port",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    url = "http://{}:{}".format(*sock.getsockname()[:2])
    what = (
        f"app {app}, sidecar :{http}, gRPC :{grpc}, and the registered apps"
        if aimed
        else "every app in the local registry"
    )
    Console().print(f"funchost dashboard on {url} ({what})", highlight=False)
    loopback = host in ("127.0.0.1", "localhost", "::1")
    board = create_dashboard(targets, token=_token(), loopback=loopback, catalog=catalog)
    config = uvicorn.Config(board, log_level="warning", log_config=None)
    uvicorn.Server(config).run(sockets=[sock])


deadletters_app = typer.Typer(
    help="Messages subscribers gave up on: list, redrive ID, discard ID.", no_args_is_help=True
)


def _sidecar(url: str | None) -> str:
    return url or f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"


def _request(method: str, url: str, path: str, params: dict[str, str] | None = None) -> Any:
    import httpx

    headers = {}
    if os.environ.get("DAPR_API_TOKEN"):
        headers["dapr-api-token"] = os.environ["DAPR_API_TOKEN"]
    err = Console(stderr=True)
    try:
        resp = httpx.request(method, url + path, params=params, headers=headers, timeout=30.0)
    except httpx.HTTPError as exc:
        err.print(
            f"[bold red]error:[/] no sidecar answers at {url} ({exc}): start the app with "
            "`funchost run PATH`, or pass --sidecar with its HTTP URL",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    if resp.status_code >= 400:
        try:
            message = resp.json().get("message") or resp.text
        except ValueError:
            message = resp.text
        if resp.status_code == 404 and "errorCode" not in resp.text:
            message = f"{url} has no dead-letter API: it needs funchost's embedded sidecar"
        err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    return resp.json() if resp.content else None


@deadletters_app.command("list")
def dl_list(
    sidecar: SidecarUrlOpt = None,
    pubsub: Annotated[str | None, typer.Option("--pubsub", help="Only this pub/sub.")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Dead letters, newest first: id, pub/sub, topic, reason, payload."""
    from rich.markup import escape
    from rich.table import Table

    params = {k: v for k, v in (("pubsub", pubsub), ("topic", topic)) if v}
    rows = _request("GET", _sidecar(sidecar), "/funchost/v1/deadletters", params)["deadLetters"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} dead letter(s)", title_justify="left")
    for col in ("id", "pubsub/topic", "dead-letter topic", "reason", "payload"):
        table.add_column(col, overflow="fold")
    for r in rows:
        payload = r.get("event", r.get("data", r.get("data_base64")))
        if isinstance(payload, dict) and "data" in payload:
            payload = payload["data"]
        table.add_row(
            str(r["id"]),
            f"{r['pubsub']}/{r['topic']}",
            r["deadLetterTopic"] or "(none: dropped)",
            r["reason"],
            escape(json.dumps(payload)[:200]),
        )
    Console(width=max(Console().width, 140)).print(table)


@deadletters_app.command("redrive")
def dl_redrive(
    dead_letter_id: Annotated[int, typer.Argument(help="Dead letter id (from `list`).")],
    sidecar: SidecarUrlOpt = None,
) -> None:
    """Publish a dead letter again to its topic, then forget it."""
    doc = _request("POST", _sidecar(sidecar), f"/funchost/v1/deadletters/{dead_letter_id}/redrive")
    Console().print(
        f"dead letter {dead_letter_id} published again to {doc['pubsub']}/{doc['topic']}",
        highlight=False,
    )


@deadletters_app.command("discard")
def dl_discard(
    dead_letter_id: Annotated[int, typer.Argument(help="Dead letter id (from `list`).")],
    sidecar: SidecarUrlOpt = None,
) -> None:
    """Forget a dead letter."""
    _request("DELETE", _sidecar(sidecar), f"/funchost/v1/deadletters/{dead_letter_id}")
    Console().print(f"dead letter {dead_letter_id} discarded", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `dashboard` and `deadletters` to the funchost CLI."""
    app.command("dashboard")(dashboard)
    app.add_typer(deadletters_app, name="deadletters")
