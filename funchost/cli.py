"""The ``funchost`` command line: list, check, serve, run, sidecar (+ commands added by others).

Every option reads a ``FUNCHOST_*`` environment variable. Other modules add commands with a
``register(app: typer.Typer)`` function listed in `EXTENSIONS`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from funchost.errors import FunchostError

__all__ = ["EXTENSIONS", "app", "main"]

app = typer.Typer(
    name="funchost",
    help="Run a folder of decorated Python functions as a Dapr app.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

#: "module:function" adding sub-commands; a missing module is skipped.
EXTENSIONS = (
    "funchost.manifests:register",
    "funchost.sidecar.runner:register",
    "funchost.observability.cli:register",
)

PathArg = Annotated[
    Path, typer.Argument(help="Folder (or .py file) of functions.", envvar="FUNCHOST_PATH")
]
PluginsOpt = Annotated[
    bool,
    typer.Option(
        "--plugins/--no-plugins",
        help="Also load installed plugins (entry-point group 'funchost').",
        envvar="FUNCHOST_LOAD_PLUGINS",
    ),
]
HostOpt = Annotated[
    str,
    typer.Option(
        "--host", help="Interface to bind (0.0.0.0 in containers).", envvar="FUNCHOST_HOST"
    ),
]
AppIdOpt = Annotated[
    str | None, typer.Option("--app-id", help="Dapr app id.", envvar="FUNCHOST_APP_ID")
]
LogOpt = Annotated[str, typer.Option("--log-level", help="Log level.", envvar="FUNCHOST_LOG_LEVEL")]
EnableOpt = Annotated[
    str | None,
    typer.Option(
        "--enable",
        help=(
            "Serve only part of PATH (a scale unit), comma separated: unit names api (invoke), "
            "workers (topic, binding, cron), actors, workflows (workflow + activity); trigger "
            "kinds invoke, topic, binding, cron, actor, workflow, activity; or function names "
            "(e.g. TaskActor). Empty, 'all' or '*' serves everything."
        ),
        envvar="FUNCHOST_ENABLE",
    ),
]


def _require_free_port(host: str, port: int, flag: str) -> None:
    """Exit 1 with one line when nothing can listen on host:port (checked before starting)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            err_console.print(
                f"[bold red]error:[/] app port {port} on {host} is not available "
                f"({exc.strerror or exc}): stop what listens there or pass {flag} "
                "with another port",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None


def _rel(file: str) -> str:
    try:
        return os.path.relpath(file)
    except ValueError:
        return file


def _logging(level: str) -> None:
    from funchost.observability.logging import configure_logging

    # JSON lines when not a terminal (or FUNCHOST_LOG_FORMAT=json), colour in a terminal.
    configure_logging(level=level.upper())


def _load(path: Path, plugins: bool) -> Any:
    from funchost.discovery import discover

    try:
        registry = discover(path, plugins=plugins)
    except FunchostError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if not len(registry):
        err_console.print(
            f"[yellow]warning:[/] no functions found in {path}: decorate functions with "
            "@topic, @binding, @cron, @invoke, @actor, @workflow or @activity",
            highlight=False,
            soft_wrap=True,
        )
    return registry


@app.command("list")
def list_cmd(
    path: PathArg,
    plugins: PluginsOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the functions of PATH: kind, name, trigger, module:line."""
    registry = _load(path, plugins)
    if as_json:
        import json

        typer.echo(json.dumps(registry.describe(), indent=2, default=str))
        return
    table = Table(title=f"{len(registry)} function(s) in {path}")
    for column in ("kind", "name", "trigger", "module:line"):
        table.add_column(column, overflow="fold")
    from funchost.registry import KINDS

    ordered = sorted(
        registry, key=lambda d: (KINDS.index(d.kind) if d.kind in KINDS else 99, d.file, d.line)
    )
    for d in ordered:
        table.add_row(d.kind, d.name, escape(d.trigger), escape(f"{_rel(d.file)}:{d.line}"))
    Console(width=max(console.width, 140)).print(table)


@app.command()
def check(path: PathArg, plugins: PluginsOpt = True) -> None:
    """Import PATH and validate every definition; exit 1 with the error (file:line)."""
    registry = _load(path, plugins)
    from funchost.app import create_app
    from funchost.settings import Settings

    try:
        create_app(registry, Settings())
    except FunchostError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    kinds: dict[str, int] = {}
    for d in registry:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "no functions"
    console.print(f"[green]ok[/]: {escape(str(path))}: {summary}", highlight=False, soft_wrap=True)


@app.command()
def serve(
    path: PathArg,
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="App port (default $APP_PORT or 8000).", envvar="FUNCHOST_APP_PORT"
        ),
    ] = None,
    app_id: AppIdOpt = None,
    plugins: PluginsOpt = True,
    log_level: LogOpt = "info",
    enable: EnableOpt = None,
) -> None:
    """Serve PATH for a real daprd (DAPR_HTTP_PORT, DAPR_GRPC_PORT, APP_PORT, APP_API_TOKEN)."""
    import uvicorn

    from funchost.settings import Settings

    _logging(log_level)
    registry = _load(path, plugins)
    overrides: dict[str, Any] = {"host": host}
    if port is not None:
        overrides["app_port"] = port
    if app_id:
        overrides["app_id"] = app_id
    if enable is not None:
        overrides["enable"] = enable
    settings = Settings(**overrides)
    _require_free_port(settings.host, settings.app_port, "--port")
    application = _build(registry, settings)
    console.print(
        f"funchost: app '{settings.app_id}' ({len(registry)} functions) on "
        f"http://{settings.host}:{settings.app_port}; sidecar expected at "
        f"{settings.dapr_http_endpoint} (gRPC {settings.dapr_grpc_address})",
        highlight=False,
    )
    from funchost.shutdown import DrainingServer  # SIGTERM: refuse new work, drain, exit

    # log_config=None: uvicorn's own lines go through funchost's (JSON / rich) handler too
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.app_port,
        log_level=log_level,
        log_config=None,
    )
    DrainingServer(config).run()


def _build(registry: Any, settings: Any) -> Any:
    from funchost.app import create_app

    try:
        return create_app(registry, settings)
    except FunchostError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from exc


def _resources(path: Path, extra: list[Path] | None) -> list[Path]:
    base = path if path.is_dir() else path.parent
    found = []
    for root in (base.parent, base):
        for name in ("components", "bindings"):
            candidate = (root / name).resolve()
            if candidate.is_dir() and candidate not in found:
                found.append(candidate)
    for p in extra or []:
        if not p.is_dir():
            raise typer.BadParameter(f"resources path '{p}' is not a folder")
        if p.resolve() not in found:
            found.append(p.resolve())
    return found


def _check_components(registry: Any, components: Any, resources: list[Path]) -> None:
    """Exit 1 on a @topic whose pub/sub is not loaded; warn on an @binding or a per-replica
    @cron without its component.

    An input binding whose component exists only elsewhere (e.g. Kafka on Kubernetes) is common
    while the rest of the folder is developed locally, so it is a warning, not an error.
    """
    where = ", ".join(map(str, resources)) or "(no resources folder: built-in defaults only)"
    for d in registry.topics:
        comp = components.get(d.pubsub)
        if comp is None or comp.kind != "pubsub":
            err_console.print(
                f"[bold red]error:[/] {_rel(d.file)}:{d.line}: @topic {d.name!r} subscribes "
                f"through pub/sub {d.pubsub!r}, but no pubsub component of that name is loaded "
                f"from {where}: add one (e.g. components/{d.pubsub}.yaml) or pass "
                "--resources-path",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
    for c in registry.crons:
        comp = components.get(c.name)
        if c.per_replica and (comp is None or comp.type != "bindings.cron"):
            err_console.print(
                f"[yellow]warning:[/] {_rel(c.file)}:{c.line}: @cron {c.name!r} (per_replica) "
                f"never fires: no bindings.cron component {c.name!r} is loaded from {where}; add "
                f"one with metadata schedule {c.job_schedule!r} (`funchost manifests` renders it "
                "in cron-bindings.yaml)",
                highlight=False,
                soft_wrap=True,
            )
    for b in registry.bindings:
        comp = components.get(b.binding)
        if comp is None or comp.kind != "bindings":
            err_console.print(
                f"[yellow]warning:[/] {_rel(b.file)}:{b.line}: @binding {b.name!r}: no bindings "
                f"component {b.binding!r} is loaded from {where}, so nothing triggers it: add "
                f"one (any bindings.* type, e.g. bindings.kafka) to feed it with `funchost send "
                f"binding {b.binding} DATA`",
                highlight=False,
                soft_wrap=True,
            )


ResourcesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--resources-path",
        help="Extra folder of Dapr components (repeatable).",
        envvar="FUNCHOST_RESOURCES_PATH",
    ),
]
StateDirOpt = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        help="Where the sidecar keeps its SQLite database.",
        envvar="FUNCHOST_STATE_DIR",
    ),
]
HttpPortOpt = Annotated[
    int,
    typer.Option("--dapr-http-port", help="Sidecar HTTP port.", envvar="FUNCHOST_DAPR_HTTP_PORT"),
]
GrpcPortOpt = Annotated[
    int,
    typer.Option("--dapr-grpc-port", help="Sidecar gRPC port.", envvar="FUNCHOST_DAPR_GRPC_PORT"),
]


RunFileOpt = Annotated[
    Path | None,
    typer.Option(
        "-f",
        "--run-file",
        help=(
            "Run every app of a Dapr multi-app run template (the dapr.yaml of `dapr run -f`, or "
            "a folder holding one) instead of PATH."
        ),
        envvar="FUNCHOST_RUN_FILE",
    ),
]


@app.command()
def run(
    path: Annotated[
        Path | None,
        typer.Argument(help="Folder (or .py file) of functions.", envvar="FUNCHOST_PATH"),
    ] = None,
    run_file: RunFileOpt = None,
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="App port.", envvar="FUNCHOST_APP_PORT")
    ] = 8000,
    app_id: AppIdOpt = None,
    resources_path: ResourcesOpt = None,
    state_dir: StateDirOpt = Path(".funchost"),
    dapr_http_port: HttpPortOpt = 3500,
    dapr_grpc_port: GrpcPortOpt = 50001,
    plugins: PluginsOpt = True,
    log_level: LogOpt = "info",
    enable: EnableOpt = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Restart the app when a .py file of PATH changes; the sidecar keeps running.",
            envvar="FUNCHOST_RELOAD",
        ),
    ] = False,
) -> None:
    """Run PATH with the embedded sidecar: no Docker, no daprd. Ctrl-C stops both.

    With -f dapr.yaml: every app of the multi-app run template, each with its own sidecar.
    """
    if run_file is not None:
        _run_many(run_file, state_dir, log_level)
        return
    if path is None:
        raise typer.BadParameter("give PATH (a folder of functions) or -f dapr.yaml")
    import uvicorn

    from funchost.app import create_app
    from funchost.observability.progress import StartupProgress
    from funchost.settings import Settings
    from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread

    _logging(log_level)
    progress = StartupProgress(err_console)
    with progress.step("discovering functions"):
        registry = _load(path, plugins)
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    resolved_id = app_id or os.environ.get("APP_ID") or folder.name or "funchost"
    resources = _resources(path, resources_path)
    _require_free_port(host, port, "--port")
    state_dir.mkdir(parents=True, exist_ok=True)
    db = state_dir.resolve() / f"{resolved_id}.db"
    config = SidecarConfig(
        app_id=resolved_id,
        app_port=port,
        http_port=dapr_http_port,
        grpc_port=dapr_grpc_port,
        resources_paths=resources,
        db_path=db,
        app_api_token=os.environ.get("APP_API_TOKEN") or None,
        api_token=os.environ.get("DAPR_API_TOKEN") or None,
        app_protocol=os.environ.get("APP_PROTOCOL") or "http",
        namespace=os.environ.get("NAMESPACE") or None,
        register=True,  # found by app id from the other apps on this machine
    )
    try:
        with progress.step("loading components, starting the embedded sidecar"):
            thread = SidecarThread(Sidecar(config))
            thread.start()
    except Exception as exc:
        err_console.print(
            f"[bold red]error:[/] the embedded sidecar did not start: {exc}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from exc
    try:
        _check_components(registry, thread.sidecar.get("components"), resources)
        os.environ.update(thread.sidecar.env())
        extra: dict[str, Any] = {} if enable is None else {"enable": enable}
        settings = Settings(host=host, app_port=port, app_id=resolved_id, **extra)
        with progress.step("building the app"):
            application = _build(registry, settings)
        sc = thread.sidecar
        console.print(
            f"funchost: app '{resolved_id}' ({len(registry)} functions) on http://{host}:{port}\n"
            f"  sidecar HTTP {sc.http_url}  gRPC {sc.grpc_address}\n"
            f"  resources: {', '.join(map(str, resources)) or '(built-in defaults)'}\n"
            f"  database:  {db}",
            highlight=False,
        )
        progress.in_background(
            "waiting for the app's health and wiring it to the sidecar",
            lambda: thread.call(thread.sidecar.wait_app_ready(), timeout=120.0),
        )
        if reload:
            from funchost.observability.reload import serve_with_reload

            serve_with_reload(
                path,
                registry,
                build=lambda reg: create_app(reg, settings),
                app=application,
                sidecar=thread,
                plugins=plugins,
                host=host,
                port=port,
                log_level=log_level,
                console=err_console,
            )
        else:
            from funchost.shutdown import DrainingServer

            uv_config = uvicorn.Config(
                application, host=host, port=port, log_level=log_level, log_config=None
            )
            # Shutdown like daprd next to an app: the sidecar stops dispatching, the app drains
            # (the sidecar API still answers), the sidecar deactivates actors on the listening
            # app, the app exits, then the sidecar closes (finally).
            server = DrainingServer(uv_config, before_exit=thread.deactivate_actors)
            server.drain.on_drain(thread.quiesce)
            server.run()
    finally:
        thread.stop()


def _run_many(run_file: Path, state_dir: Path, log_level: str) -> None:
    from funchost.runfile import RunFileError, load_run_file, run_apps

    try:
        spec = load_run_file(run_file)
    except RunFileError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None
    for warning in spec.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    default_state = state_dir == Path(".funchost")
    code = run_apps(spec, state_dir=None if default_state else state_dir, log_level=log_level)
    if code:
        raise typer.Exit(code)


@app.command()
def sidecar(
    app_id: Annotated[str, typer.Option("--app-id", help="Dapr app id.", envvar="FUNCHOST_APP_ID")],
    app_port: Annotated[
        int | None, typer.Option("--app-port", help="The app's port.", envvar="FUNCHOST_APP_PORT")
    ] = None,
    resources_path: ResourcesOpt = None,
    state_dir: StateDirOpt = Path(".funchost"),
    dapr_http_port: HttpPortOpt = 3500,
    dapr_grpc_port: GrpcPortOpt = 50001,
) -> None:
    """Run the embedded sidecar alone (a stand-in for daprd) until Ctrl-C."""

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


send_app = typer.Typer(help="Send something to a running app through its sidecar.")
app.add_typer(send_app, name="send")
SidecarUrlOpt = Annotated[
    str,
    typer.Option("--sidecar", help="Sidecar HTTP URL.", envvar="FUNCHOST_SIDECAR_URL"),
]


def _pairs(values: list[str] | None) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"metadata '{item}' must look like key=value")
        out[key] = value
    return out


@send_app.command("binding")
def send_binding_cmd(
    name: Annotated[str, typer.Argument(help="Input binding name.")],
    data: Annotated[str, typer.Argument(help="Payload (JSON or text).")],
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="key=value (repeatable).")
    ] = None,
    sidecar_url: SidecarUrlOpt = "http://127.0.0.1:3500",
) -> None:
    """Deliver DATA to the app as input binding NAME (as the component would)."""
    import httpx

    from funchost.sidecar.runner import send_binding

    try:
        status, body = send_binding(
            sidecar_url, name, data, _pairs(metadata), os.environ.get("DAPR_API_TOKEN") or None
        )
    except httpx.HTTPError as exc:
        _unreachable(sidecar_url, exc)
    console.print(f"{status} {body.decode(errors='replace')}", highlight=False)
    if status >= 300:
        raise typer.Exit(1)


@app.command()
def outbox(
    binding: Annotated[str | None, typer.Argument(help="Only this output binding.")] = None,
    sidecar_url: SidecarUrlOpt = "",
    db: Annotated[
        Path | None, typer.Option("--db", help="Read a sidecar database file instead.")
    ] = None,
) -> None:
    """List what functions sent to output bindings (the embedded sidecar's outbox)."""
    import json

    import httpx

    from funchost.sidecar.runner import list_outbox

    target: str | Path = db if db is not None else (sidecar_url or "http://127.0.0.1:3500")
    try:
        entries = list_outbox(target, binding, os.environ.get("DAPR_API_TOKEN") or None)
    except httpx.HTTPError as exc:
        _unreachable(str(target), exc)
    typer.echo(json.dumps(entries, indent=2, default=str))


def _unreachable(url: str, exc: Exception) -> NoReturn:
    err_console.print(
        f"[bold red]error:[/] no sidecar answers at {url} ({exc}): start the app with "
        "`funchost run PATH`, or pass --sidecar with its HTTP URL",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1) from None


def _load_extensions() -> None:
    for spec in EXTENSIONS:
        module_name, _, func = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            err_console.print(f"warning: commands of {module_name} unavailable: {exc}")
            continue
        except Exception as exc:
            err_console.print(f"warning: commands of {module_name} unavailable: {exc}")
            continue
        register = getattr(module, func, None)
        if register is not None:
            register(app)


_load_extensions()


def main() -> None:
    """Console entry point (``funchost``)."""
    app()
