"""The ``funchost`` command line: list, check, serve, run, sidecar, send, outbox, manifests,
status, workflow, dashboard, deadletters, config, new, wait.

Every option reads a ``FUNCHOST_*`` environment variable. This module declares the commands and
their options only; each body imports its implementation (`funchost.commands.*`, the app, the
sidecar, uvicorn, grpc) when it runs, so ``funchost --help`` and ``funchost list`` stay cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from funchost.commands.common import (
    build,
    configure_logging,
    console,
    err_console,
    load,
    rel,
    require_free_port,
)
from funchost.errors import FunchostError

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """The root group: the commands declared in other modules (`_add_commands`) are imported at
    the first lookup of a name this module does not declare, or a listing (--help), so `funchost
    run` does not import the manifests, observability, dashboard and scaffold modules."""

    def _load_more(self) -> None:
        if _add_commands():  # in the order of a group built with all of them (--help)
            self.commands = dict(typer.main.get_group(app).commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            self._load_more()
            found = super().get_command(ctx, cmd_name)
        return found

    def list_commands(self, ctx: Any) -> list[str]:
        self._load_more()
        return super().list_commands(ctx)


app = typer.Typer(
    cls=_Group,
    name="funchost",
    help="Run a folder of decorated Python functions as a Dapr app.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"funchost {version('funchost')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version),
    ] = False,
) -> None:
    """Run a folder of decorated Python functions as a Dapr app."""


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
            "workers (topic, binding, cron, config), actors, workflows (workflow + activity); "
            "trigger kinds invoke, topic, binding, cron, config, actor, workflow, activity; or "
            "function names "
            "(e.g. TaskActor). Empty, 'all' or '*' serves everything."
        ),
        envvar="FUNCHOST_ENABLE",
    ),
]


@app.command("list")
def list_cmd(
    path: PathArg,
    plugins: PluginsOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the functions of PATH: kind, name, trigger, module:line."""
    registry = load(path, plugins)
    if as_json:
        import json

        typer.echo(json.dumps(registry.describe(), indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"{len(registry)} function(s) in {path}")
    for column in ("kind", "name", "trigger", "module:line"):
        table.add_column(column, overflow="fold")
    from funchost.triggers import kinds

    order = list(kinds())
    ordered = sorted(
        registry, key=lambda d: (order.index(d.kind) if d.kind in order else 99, d.file, d.line)
    )
    for d in ordered:
        table.add_row(d.kind, d.name, escape(d.trigger), escape(f"{rel(d.file)}:{d.line}"))
    Console(width=max(console.width, 140)).print(table)


@app.command()
def check(path: PathArg, plugins: PluginsOpt = True) -> None:
    """Import PATH and validate every definition; exit 1 with the error (file:line)."""
    registry = load(path, plugins)
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

    configure_logging(log_level)
    registry = load(path, plugins)
    overrides: dict[str, Any] = {"host": host}
    if port is not None:
        overrides["app_port"] = port
    if app_id:
        overrides["app_id"] = app_id
    if enable is not None:
        overrides["enable"] = enable
    settings = Settings(**overrides)
    require_free_port(settings.host, settings.app_port, "--port")
    application = build(registry, settings)
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
MaxBodyOpt = Annotated[
    str,
    typer.Option(
        "--dapr-max-body-size",
        "--max-body-size",
        help="Sidecar request body limit, HTTP and gRPC (daprd's --max-body-size).",
        envvar="FUNCHOST_DAPR_MAX_BODY_SIZE",
    ),
]
DashboardOpt = Annotated[
    bool,
    typer.Option(
        "--dashboard/--no-dashboard",
        help="Serve the web dashboard on 127.0.0.1 (FUNCHOST_DASHBOARD=0 turns it off).",
        envvar="FUNCHOST_DASHBOARD",
    ),
]
DashboardPortOpt = Annotated[
    int,
    typer.Option("--dashboard-port", help="Web dashboard port.", envvar="FUNCHOST_DASHBOARD_PORT"),
]


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="A Dapr Configuration YAML (secret scopes, tracing, features, workflow limits).",
        envvar="FUNCHOST_CONFIG",
    ),
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
    dapr_max_body_size: MaxBodyOpt = "4Mi",
    plugins: PluginsOpt = True,
    log_level: LogOpt = "info",
    enable: EnableOpt = None,
    config_file: ConfigOpt = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Restart the app when a .py file of PATH changes; the sidecar keeps running.",
            envvar="FUNCHOST_RELOAD",
        ),
    ] = False,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            "--ready-file",
            help="Write this file (JSON) once the app and its sidecar are ready; removed on exit.",
            envvar="FUNCHOST_READY_FILE",
        ),
    ] = None,
    dashboard: DashboardOpt = True,
    dashboard_port: DashboardPortOpt = 8080,
) -> None:
    """Run PATH with the embedded sidecar: no Docker, no daprd. Ctrl-C stops both.

    With -f dapr.yaml: every app of the multi-app run template, each with its own sidecar.
    """
    if run_file is not None:
        from funchost.commands.run import run_many

        run_many(
            run_file,
            state_dir=state_dir,
            log_level=log_level,
            dashboard_port=dashboard_port if dashboard else None,
        )
        return
    if path is None:
        raise typer.BadParameter("give PATH (a folder of functions) or -f dapr.yaml")
    from funchost.commands.run import run as run_impl

    run_impl(
        path=path,
        host=host,
        port=port,
        app_id=app_id,
        resources_path=resources_path,
        state_dir=state_dir,
        dapr_http_port=dapr_http_port,
        dapr_grpc_port=dapr_grpc_port,
        max_body_size=dapr_max_body_size,
        plugins=plugins,
        log_level=log_level,
        enable=enable,
        reload=reload,
        ready_file=ready_file,
        from_process_start=_AS_COMMAND,
        dashboard_port=dashboard_port if dashboard else None,
        config_file=config_file,
    )


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
    app_protocol: Annotated[
        str,
        typer.Option(
            "--app-protocol",
            help="How the sidecar calls the app: http, or grpc (a dapr.ext.grpc App).",
            envvar=["FUNCHOST_APP_PROTOCOL", "APP_PROTOCOL"],
        ),
    ] = "http",
    enable_app_health_check: Annotated[
        bool,
        typer.Option(
            "--enable-app-health-check",
            help="Probe the app's health (HTTP GET path / gRPC HealthCheck); pause it when down.",
            envvar="FUNCHOST_ENABLE_APP_HEALTH_CHECK",
        ),
    ] = False,
    app_health_check_path: Annotated[
        str,
        typer.Option(
            "--app-health-check-path",
            help="Path probed on an HTTP app.",
            envvar="FUNCHOST_APP_HEALTH_CHECK_PATH",
        ),
    ] = "/healthz",
    app_health_probe_interval: Annotated[
        int,
        typer.Option(
            "--app-health-probe-interval",
            help="Seconds between health probes.",
            envvar="FUNCHOST_APP_HEALTH_PROBE_INTERVAL",
        ),
    ] = 5,
    app_health_probe_timeout: Annotated[
        int,
        typer.Option(
            "--app-health-probe-timeout",
            help="Milliseconds a probe may take.",
            envvar="FUNCHOST_APP_HEALTH_PROBE_TIMEOUT",
        ),
    ] = 500,
    app_health_threshold: Annotated[
        int,
        typer.Option(
            "--app-health-threshold",
            help="Failed probes in a row before the app counts as unhealthy.",
            envvar="FUNCHOST_APP_HEALTH_THRESHOLD",
        ),
    ] = 3,
    config_file: ConfigOpt = None,
    dapr_max_body_size: MaxBodyOpt = "4Mi",
) -> None:
    """Run the embedded sidecar alone (a stand-in for daprd) until Ctrl-C."""
    from funchost.commands.sidecar import sidecar as sidecar_impl

    if app_health_probe_timeout > app_health_probe_interval * 1000:
        raise typer.BadParameter(
            "--app-health-probe-timeout (ms) must not exceed --app-health-probe-interval (s)"
        )
    if app_protocol.lower() not in ("http", "grpc"):
        raise typer.BadParameter(
            f"--app-protocol {app_protocol!r}: the embedded sidecar serves http or grpc apps"
        )

    sidecar_impl(
        app_id=app_id,
        app_port=app_port,
        resources_path=resources_path,
        state_dir=state_dir,
        dapr_http_port=dapr_http_port,
        dapr_grpc_port=dapr_grpc_port,
        app_protocol=app_protocol.lower(),
        enable_app_health_check=enable_app_health_check,
        app_health_path=app_health_check_path,
        app_health_probe_interval=float(app_health_probe_interval),
        app_health_probe_timeout=app_health_probe_timeout / 1000.0,
        app_health_threshold=app_health_threshold,
        config_path=config_file.resolve() if config_file else None,
        max_body_size=dapr_max_body_size,
    )


send_app = typer.Typer(help="Send something to a running app through its sidecar.")
app.add_typer(send_app, name="send")
SidecarUrlOpt = Annotated[
    str,
    typer.Option("--sidecar", help="Sidecar HTTP URL.", envvar="FUNCHOST_SIDECAR_URL"),
]


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
    from funchost.commands.sidecar import send_binding_cmd as send_impl

    send_impl(name=name, data=data, metadata=metadata, sidecar_url=sidecar_url)


@app.command()
def outbox(
    binding: Annotated[str | None, typer.Argument(help="Only this output binding.")] = None,
    sidecar_url: SidecarUrlOpt = "",
    db: Annotated[
        Path | None, typer.Option("--db", help="Read a sidecar database file instead.")
    ] = None,
) -> None:
    """List what functions sent to output bindings (the embedded sidecar's outbox)."""
    from funchost.commands.sidecar import outbox as outbox_impl

    outbox_impl(binding=binding, sidecar_url=sidecar_url, db=db)


@app.command("apps")
def apps_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document.", envvar="FUNCHOST_APPS_JSON")
    ] = False,
) -> None:
    """List the apps running on this machine (their sidecars' entries in the name registry)."""
    from funchost.commands.sidecar import list_apps

    list_apps(as_json=as_json)


_ADDED = False


def _add_commands() -> bool:
    """Register the commands declared in other modules, once; True when it did it now."""
    # These modules declare typer commands and import their implementations lazily.
    global _ADDED
    if _ADDED:
        return False
    _ADDED = True
    from funchost.commands.config import register as register_config
    from funchost.commands.sidecar import register_db
    from funchost.dashboard.cli import register as register_dashboard
    from funchost.manifests.command import register as register_manifests
    from funchost.observability.cli import register as register_observability
    from funchost.observability.ready import register as register_wait
    from funchost.scaffold import register as register_new

    register_db(app)
    register_manifests(app)
    register_observability(app)
    register_wait(app)
    register_new(app)
    register_dashboard(app)
    register_config(app)
    return True


_AS_COMMAND = False  # main() ran: this process is the command (not a test's CliRunner)


def main() -> None:
    """Console entry point (``funchost``)."""
    global _AS_COMMAND
    _AS_COMMAND = True
    app()
