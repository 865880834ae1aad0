"""Commands `funchost status` and `funchost workflow list|show|history` (added to the CLI by
`register(app)`, listed in `funchost.cli.EXTENSIONS`)."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["register", "workflow_app"]

AppUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--app-url",
        help="The app's base URL [default: http://127.0.0.1:$APP_PORT or :8000].",
        envvar="FUNCHOST_APP_URL",
    ),
]
SidecarUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--sidecar-url",
        help="The sidecar's HTTP URL [default: http://127.0.0.1:$DAPR_HTTP_PORT or :3500].",
        envvar="FUNCHOST_SIDECAR_URL",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="The sidecar's gRPC address [default: 127.0.0.1:$DAPR_GRPC_PORT or :50001].",
        envvar="FUNCHOST_DAPR_GRPC_ADDRESS",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.", envvar="FUNCHOST_JSON")]


def _app_url(value: str | None) -> str:
    return value or f"http://127.0.0.1:{os.environ.get('APP_PORT', '8000')}"


def _sidecar_url(value: str | None) -> str:
    return value or f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"


def _address(value: str | None) -> tuple[str, str]:
    address = value or f"127.0.0.1:{os.environ.get('DAPR_GRPC_PORT', '50001')}"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"gRPC address {address!r} must look like 127.0.0.1:50001")
    return host, port


def status(
    app_url: AppUrlOpt = None,
    sidecar_url: SidecarUrlOpt = None,
    watch: Annotated[
        bool | None,
        typer.Option(
            "--watch/--once",
            help="Refresh live until Ctrl-C [default: live in a terminal].",
            envvar="FUNCHOST_STATUS_WATCH",
        ),
    ] = None,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", help="Seconds between refreshes.", envvar="FUNCHOST_STATUS_INTERVAL"
        ),
    ] = 2.0,
    recent: Annotated[
        int,
        typer.Option("--recent", help="Recent invocations shown.", envvar="FUNCHOST_STATUS_RECENT"),
    ] = 10,
) -> None:
    """Live view of a running app: functions, invocations, failures, workflows, queues."""
    from .status import gather, render_status

    console = Console()
    app, sidecar = _app_url(app_url), _sidecar_url(sidecar_url)
    tokens: dict[str, Any] = {
        "api_token": os.environ.get("DAPR_API_TOKEN") or None,
        "app_token": os.environ.get("APP_API_TOKEN") or None,
    }
    if watch is None:
        watch = console.is_terminal
    if not watch:
        snap = gather(app, sidecar, **tokens)
        console.print(render_status(snap, recent))
        if snap.errors and not snap.functions and not snap.sidecar:
            raise typer.Exit(1)
        return
    from rich.live import Live

    with Live(console=console, screen=False, auto_refresh=False) as live:
        try:
            while True:
                live.update(render_status(gather(app, sidecar, **tokens), recent), refresh=True)
                time.sleep(interval)
        except KeyboardInterrupt:
            pass


workflow_app = typer.Typer(
    help="Inspect workflow instances: list, show ID, history ID.", no_args_is_help=True
)


def _client(address: str | None) -> Any:
    from dapr.ext.workflow import DaprWorkflowClient

    host, port = _address(address)
    return DaprWorkflowClient(host=host, port=port)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _rpc_errors(command: Callable[..., None]) -> Callable[..., None]:
    """One line instead of a gRPC traceback when no sidecar answers (or it refuses the call)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        import grpc

        try:
            command(*args, **kwargs)
        except grpc.RpcError as exc:
            address = ":".join(_address(kwargs.get("address")))
            details = exc.details() if hasattr(exc, "details") else str(exc)
            Console(stderr=True).print(
                f"[red]error:[/] workflow {command.__name__[3:]} via {address}: {details} "
                "(is `funchost run` up? pass --address with its gRPC address)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


@workflow_app.command("list")
@_rpc_errors
def wf_list(
    address: AddressOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Workflow instances known to the sidecar, newest first."""
    from rich.table import Table

    client = _client(address)
    rows = []
    for instance_id in client.iter_workflow_instance_ids(page_size=min(limit, 1024)):
        state = client.get_workflow_state(instance_id, fetch_payloads=False)
        if state is not None:
            rows.append(state)
        if len(rows) >= limit:
            break
    rows.sort(key=lambda s: s.created_at or 0, reverse=True)
    if as_json:
        typer.echo(json.dumps([_state_json(s) for s in rows], indent=2))
        return
    table = Table()
    for col in ("instance", "workflow", "status", "created (UTC)", "last change (UTC)"):
        table.add_column(col)
    for s in rows:
        table.add_row(
            s.instance_id,
            s.name,
            s.runtime_status.name,
            _when(s.created_at),
            _when(s.last_updated_at),
        )
    Console().print(table)


def _state_json(state: Any) -> dict[str, Any]:
    out = {
        "instance_id": state.instance_id,
        "name": state.name,
        "status": state.runtime_status.name,
        "created_at": _when(state.created_at),
        "last_updated_at": _when(state.last_updated_at),
    }
    for key in ("serialized_input", "serialized_output", "serialized_custom_status"):
        value = getattr(state, key, None)
        if value:
            out[key.removeprefix("serialized_")] = value
    failure = getattr(state, "failure_details", None)
    if failure is not None:
        out["failure"] = f"{failure.error_type}: {failure.message}"
    return out


@workflow_app.command("show")
@_rpc_errors
def wf_show(
    instance_id: Annotated[str, typer.Argument(help="Workflow instance id.")],
    address: AddressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One instance: name, status, times, input, output, custom status, failure."""
    state = _client(address).get_workflow_state(instance_id, fetch_payloads=True)
    if state is None:
        Console(stderr=True).print(f"[red]no workflow instance {instance_id!r}[/]")
        raise typer.Exit(1)
    doc = _state_json(state)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    console = Console()
    for key, value in doc.items():
        console.print(f"[bold]{key.replace('_', ' ')}:[/] {value}", highlight=False)


def fetch_history(instance_id: str, address: str | None = None) -> list[Any]:
    """The instance's `HistoryEvent` protobufs (TaskHub GetInstanceHistory)."""
    import grpc
    from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2 as pb
    from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pb_grpc

    host, port = _address(address)
    metadata = []
    if os.environ.get("DAPR_API_TOKEN"):
        metadata.append(("dapr-api-token", os.environ["DAPR_API_TOKEN"]))
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = pb_grpc.TaskHubSidecarServiceStub(channel)
        request = pb.GetInstanceHistoryRequest(instanceId=instance_id)
        return list(stub.GetInstanceHistory(request, metadata=metadata, timeout=30).events)


@workflow_app.command("history")
def wf_history(
    instance_id: Annotated[str, typer.Argument(help="Workflow instance id.")],
    address: AddressOpt = None,
    turns: Annotated[bool, typer.Option("--turns", help="Also show each replay turn.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The instance's history as a timeline: activities, timers, events, with durations."""
    import grpc

    from .timeline import render_timeline, timeline_from_history

    try:
        events = fetch_history(instance_id, address)
    except grpc.RpcError as exc:
        Console(stderr=True).print(f"[red]history of {instance_id!r}: {exc.details()}[/]")
        raise typer.Exit(1) from exc
    entries = timeline_from_history(events)
    if as_json:
        doc = [
            {
                "time": e.time.isoformat(),
                "event": e.kind,
                "name": e.name,
                "detail": e.detail,
                "event_id": e.event_id,
                "took": e.took,
            }
            for e in entries
            if turns or not e.is_turn
        ]
        typer.echo(json.dumps(doc, indent=2))
        return
    render_timeline(entries, Console(), title=f"workflow {instance_id}", turns=turns)


def register(app: typer.Typer) -> None:
    """Add `status` and `workflow` to the funchost CLI."""
    app.command("status")(status)
    app.add_typer(workflow_app, name="workflow")
