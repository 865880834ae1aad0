"""`funchost run`: the app and the embedded sidecar in one process (cli.py declares its options)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import typer

from funchost.commands.common import (
    build,
    configure_logging,
    console,
    err_console,
    load,
    rel,
    require_free_port,
)
from funchost.commands.sidecar import body_size


def run(
    path: Path,
    host: str,
    port: int,
    app_id: str | None,
    resources_path: list[Path] | None,
    state_dir: Path,
    dapr_http_port: int,
    dapr_grpc_port: int,
    max_body_size: str,
    plugins: bool,
    log_level: str,
    enable: str | None,
    reload: bool,
    ready_file: Path | None = None,
    from_process_start: bool = False,
    dashboard_port: int | None = None,
    config_file: Path | None = None,
) -> None:
    """`funchost run`: PATH with the embedded sidecar, until Ctrl-C stops both.

    ``ready_file`` is written (atomically) once the app and its sidecar are ready and removed on
    exit; ``from_process_start`` (launched as the command): "ready in" counts the imports too;
    the dashboard is served on 127.0.0.1:``dashboard_port`` unless it is None.
    """
    import uvicorn

    from funchost.app import create_app
    from funchost.observability.progress import StartupProgress
    from funchost.settings import Settings
    from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread
    from funchost.wiring.workflows import register_local_sidecar

    configure_logging(log_level)
    progress = StartupProgress(err_console, since_process_start=from_process_start)
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)  # a stale one (kill -9) must not say ready
    with progress.step("discovering functions"):
        registry = load(path, plugins)
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    resolved_id = app_id or os.environ.get("APP_ID") or folder.name or "funchost"
    resources = resources_of(path, resources_path)
    require_free_port(host, port, "--port")
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
        config_path=config_file.resolve() if config_file else None,
        max_body_size=body_size(max_body_size),
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
    board: Any = None
    local = ("127.0.0.1", thread.sidecar.config.grpc_port)
    try:
        check_components(registry, thread.sidecar.get("components"), resources)
        os.environ.update(thread.sidecar.env())
        if in_process_enabled() and not reload:
            from funchost.sidecar.app_channel.inproc import SidecarApiBridge
            from funchost.wiring._actor_http import use_in_process_sidecar

            sc = thread.sidecar
            use_in_process_sidecar(sc.http_server, sc.loop, sc.config.http_port, SidecarApiBridge)
        if workflow_local_enabled():
            register_local_sidecar(*local, thread.local_taskhub())
        extra: dict[str, Any] = {} if enable is None else {"enable": enable}
        settings = Settings(host=host, app_port=port, app_id=resolved_id, **extra)
        with progress.step("building the app"):
            application = build(registry, settings)
        sc = thread.sidecar
        board, board_url = (
            (None, "off")
            if dashboard_port is None
            else start_dashboard(sc, host, port, dashboard_port, resolved_id)
        )
        console.print(
            f"funchost: app '{resolved_id}' ({len(registry)} functions) on http://{host}:{port}\n"
            f"  sidecar HTTP {sc.http_url}  gRPC {sc.grpc_address}\n"
            f"  resources: {', '.join(map(str, resources)) or '(built-in defaults)'}\n"
            f"  database:  {db}\n"
            f"  dashboard: {board_url}",
            highlight=False,
        )
        progress.in_background(
            "waiting for the app's health and wiring it to the sidecar",
            lambda: wait_ready(thread, progress, ready_file, f"http://{host}:{port}", board),
        )
        if reload:
            from funchost.observability.reload import serve_with_reload

            stop_on_sigterm()  # as Ctrl-C: the finally below stops the sidecar, then exit 0
            with contextlib.suppress(KeyboardInterrupt):
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
            inproc = in_process_channel(thread.sidecar.app)
            server = DrainingServer(
                uv_config,
                before_exit=thread.deactivate_actors,
                on_serving=inproc and inproc[0],
                on_stopping=inproc and inproc[1],
            )
            server.drain.on_drain(thread.quiesce)
            server.run()
    finally:
        if board is not None:
            board.stop()
        register_local_sidecar(*local, None)
        from funchost.wiring._actor_http import use_in_process_sidecar

        use_in_process_sidecar(None)
        thread.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)


def in_process_enabled() -> bool:
    """False with FUNCHOST_APP_CHANNEL=http: the sidecar and the app talk over loopback HTTP
    (for debugging, e.g. with a packet capture)."""
    return os.environ.get("FUNCHOST_APP_CHANNEL", "").strip().lower() != "http"


def workflow_local_enabled() -> bool:
    """False with FUNCHOST_WORKFLOW_LOCAL=0 (or false/off): the app's workflow worker reaches
    the sidecar over loopback gRPC instead of in-process (`LocalTaskHub`)."""
    return os.environ.get("FUNCHOST_WORKFLOW_LOCAL", "1").strip().lower() not in (
        "0",
        "false",
        "off",
    )


def in_process_channel(channel: Any) -> tuple[Any, Any] | None:
    """(on_serving, on_stopping) hooks that make the sidecar call the app in-process
    (app_channel/inproc.py) while uvicorn serves it; None with FUNCHOST_APP_CHANNEL=http or a
    non-HTTP app channel (--app-protocol grpc)."""
    if not in_process_enabled():
        return None
    if getattr(channel, "protocol", None) != "http" or not hasattr(channel, "bridge"):
        return None
    import asyncio
    import contextvars

    from funchost.sidecar.app_channel.inproc import AsgiBridge

    def serving(server: Any) -> None:
        cfg = server.config
        channel.bridge = AsgiBridge(
            cfg.loaded_app,
            asyncio.get_running_loop(),
            channel.host,
            cfg.port,
            app_api_token=channel.app_api_token,
            default_headers=lambda: server.server_state.default_headers,
            tasks=server.server_state.tasks,
            state=server.lifespan.state,
            access_log=cfg.access_log,
            context=contextvars.copy_context(),  # the server's, as its own request tasks
        )

    def stopping(server: Any) -> None:
        if channel.bridge is not None:
            channel.bridge.close()

    return serving, stopping


def wait_ready(
    thread: Any, progress: Any, ready_file: Path | None, app_url: str, board: Any = None
) -> None:
    """Wait for the sidecar to find the app; then start the dashboard (its port is bound since
    the banner; it is built at its first connection, so it never delays the app's first answer)
    and write the ready file (atomically)."""
    try:
        thread.call(thread.sidecar.wait_app_ready(), timeout=120.0)
    finally:
        if board is not None:
            board.start()
    if ready_file is not None:
        from funchost.observability.ready import write_ready_file

        sc = thread.sidecar
        write_ready_file(
            ready_file,
            {
                "pid": os.getpid(),
                "app_url": app_url,
                "sidecar_http": sc.http_url,
                "sidecar_grpc": sc.grpc_address,
                "ready_in_seconds": round(progress.elapsed(), 3),
            },
        )


def start_dashboard(
    sc: Any, host: str, port: int, dashboard_port: int, app_id: str = ""
) -> tuple[Any, str]:
    """Serve the dashboard next to the app; a taken port is one warning line, not an error."""
    from funchost.dashboard.cli import start_for_run

    board, url = start_for_run(host, port, sc.http_url, sc.grpc_address, dashboard_port, app_id)
    if board is None:
        err_console.print(
            f"[yellow]warning:[/] {url}: running without the dashboard "
            "(pass --dashboard-port, or --no-dashboard to silence this)",
            highlight=False,
            soft_wrap=True,
        )
        return None, "off (port taken)"
    return board, url


def stop_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt, so it stops the process as Ctrl-C does (--reload)."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def resources_of(path: Path, extra: list[Path] | None) -> list[Path]:
    """The components/ and bindings/ folders next to PATH and its parent, plus `extra`."""
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


def check_components(registry: Any, components: Any, resources: list[Path]) -> None:
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
                f"[bold red]error:[/] {rel(d.file)}:{d.line}: @topic {d.name!r} subscribes "
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
                f"[yellow]warning:[/] {rel(c.file)}:{c.line}: @cron {c.name!r} (per_replica) "
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
                f"[yellow]warning:[/] {rel(b.file)}:{b.line}: @binding {b.name!r}: no bindings "
                f"component {b.binding!r} is loaded from {where}, so nothing triggers it: add "
                f"one (any bindings.* type, e.g. bindings.kafka) to feed it with `funchost send "
                f"binding {b.binding} DATA`",
                highlight=False,
                soft_wrap=True,
            )


def run_many(
    run_file: Path, *, state_dir: Path, log_level: str, dashboard_port: int | None = None
) -> None:
    """`funchost run -f FILE`: every app of a Dapr multi-app run template until Ctrl-C, with
    one dashboard for all of them on 127.0.0.1:``dashboard_port`` unless it is None."""
    from rich.markup import escape

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
    code = run_apps(
        spec,
        state_dir=None if default_state else state_dir,
        log_level=log_level,
        dashboard_port=dashboard_port,
    )
    if code:
        raise typer.Exit(code)
