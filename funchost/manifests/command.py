"""The `funchost manifests` command (`register` adds it to a typer app; `main` runs it alone)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from funchost.errors import FunchostError


def manifests_command(
    path: Path | None = typer.Argument(
        None, help="Folder of functions (installed plugins are added)."
    ),
    out: Path = typer.Option(
        Path("k8s/app"), "--out", envvar="FUNCHOST_MANIFESTS_OUT", help="Output folder."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        envvar="FUNCHOST_MANIFESTS_CHECK",
        help="Write nothing; exit 1 naming the files that differ from the code.",
    ),
    app_id: str = typer.Option(
        "funchost-app", "--app-id", envvar="FUNCHOST_APP_ID", help="Dapr app id (all units)."
    ),
    image: str | None = typer.Option(
        None,
        "--image",
        envvar="FUNCHOST_IMAGE",
        help="Container image with its tag (default <app-id>:0.1.0; overlays set the tag).",
    ),
    units: str | None = typer.Option(
        None,
        "--units",
        envvar="FUNCHOST_UNITS",
        help="Scale units, one Deployment each: api,workers,actors,workflows or name=kind+kind.",
    ),
    pubsub_type: str = typer.Option(
        "redis", "--pubsub-type", envvar="FUNCHOST_PUBSUB_TYPE", help="Broker: redis or kafka."
    ),
    pubsub: list[str] = typer.Option(
        [],
        "--pubsub",
        envvar="FUNCHOST_PUBSUB_BROKERS",
        help="Broker of one pub/sub component, NAME=redis|kafka (repeatable).",
    ),
    sidecar_volume: list[str] = typer.Option(
        [],
        "--sidecar-volume",
        envvar="FUNCHOST_SIDECAR_VOLUMES",
        help="emptyDir mounted read-write in daprd, NAME:PATH (repeatable).",
    ),
    redis_address: str | None = typer.Option(
        None, "--redis-address", envvar="FUNCHOST_REDIS_ADDRESS", help="host:port KEDA reads."
    ),
    kafka_brokers: str | None = typer.Option(
        None, "--kafka-brokers", envvar="FUNCHOST_KAFKA_BROKERS", help="Brokers KEDA reads."
    ),
    components: list[Path] = typer.Option(
        [],
        "--components",
        envvar="FUNCHOST_MANIFESTS_COMPONENTS",
        help="Component YAML (file or folder, repeatable): KEDA triggers follow their pub/subs.",
    ),
    namespace: str = typer.Option(
        "",
        "--namespace",
        envvar="FUNCHOST_NAMESPACE",
        help="Namespace written in every file ('' = none: an overlay or kubectl -n sets it).",
    ),
    secret: list[str] = typer.Option(
        [],
        "--secret",
        envvar="FUNCHOST_SECRETS",
        help="A Kubernetes Secret the functions read (repeatable); the Role gets only these.",
    ),
    app_max_concurrency: int = typer.Option(
        64,
        "--app-max-concurrency",
        envvar="FUNCHOST_APP_MAX_CONCURRENCY",
        min=1,
        help="dapr.io/app-max-concurrency: requests daprd sends one pod at once.",
    ),
    replicas: int = typer.Option(2, "--replicas", envvar="FUNCHOST_REPLICAS", min=1),
    max_replicas: int = typer.Option(10, "--max-replicas", envvar="FUNCHOST_MAX_REPLICAS", min=1),
    plugins: bool = typer.Option(
        True,
        "--plugins/--no-plugins",
        envvar="FUNCHOST_LOAD_PLUGINS",
        help="Also render installed plugins' functions (entry-point group 'funchost').",
    ),
    keda: bool = typer.Option(
        True, "--keda/--no-keda", envvar="FUNCHOST_KEDA", help="KEDA for topic consumers."
    ),
    run_file: Path | None = typer.Option(
        None,
        "-f",
        "--run-file",
        envvar="FUNCHOST_RUN_FILE",
        help=(
            "Every functions folder of a Dapr multi-app run template (dapr.yaml), one app each: "
            "rendered into OUT/<app-id>/ with the template's app ids (instead of PATH)."
        ),
    ),
) -> None:
    """Render Dapr and Kubernetes manifests from the decorated functions (or --check them)."""
    from funchost.manifests.render import options_from

    try:
        opts = options_from(
            app_id=app_id,
            image=image,
            units=units,
            pubsub_type=pubsub_type,
            pubsub=pubsub,
            sidecar_volume=sidecar_volume,
            namespace=namespace,
            replicas=replicas,
            max_replicas=max_replicas,
            keda=keda,
            redis_address=redis_address,
            kafka_brokers=kafka_brokers,
            components=components,
            secrets=secret,
            app_max_concurrency=app_max_concurrency,
        )
        if run_file is not None:
            targets = _run_file_apps(run_file, out, opts, image)
        elif path is not None:
            targets = [(path, out, opts)]
        else:
            raise typer.BadParameter("give PATH (a folder of functions) or -f dapr.yaml")
        failed = False
        for folder, target_out, target_opts in targets:
            failed |= not _render_one(folder, target_out, target_opts, check, plugins)
    except FunchostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if failed:
        raise typer.Exit(1)


def _run_file_apps(
    run_file: Path, out: Path, opts: Any, image: str | None
) -> list[tuple[Path, Path, Any]]:
    """(folder, output folder, options) for each functions folder of a run template."""
    from funchost.manifests.render import DEFAULT_TAG
    from funchost.runfile import load_run_file

    targets = []
    for app in load_run_file(run_file).apps:
        if not app.is_functions_folder:
            typer.echo(f"skipped {app.app_id!r}: it runs a command, not a folder of functions")
            continue
        app_opts = replace(opts, app_id=app.app_id, image=image or f"{app.app_id}:{DEFAULT_TAG}")
        targets.append((app.app_dir, out / app.app_id, app_opts))
    return targets


def _render_one(path: Path, out: Path, opts: Any, check: bool, plugins: bool) -> bool:
    """Render (or --check) one app's manifests; False when --check found drift."""
    from funchost.discovery import discover
    from funchost.manifests.render import check as check_files
    from funchost.manifests.render import render, write

    # the image holds each app's folder under /app (Dockerfile): serve this one
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    opts = replace(opts, functions_path=f"/app/{folder.name}")
    files = render(discover(path, plugins=plugins), opts)
    if check:
        problems = check_files(files, out)
        if problems:
            typer.echo(f"{len(problems)} manifest file(s) out of date in {out}:", err=True)
            for problem in problems:
                typer.echo(problem, err=True)
            typer.echo(
                f"fix: re-run `funchost manifests {path} --out {out} ...` and commit", err=True
            )
            return False
        typer.echo(f"{len(files)} manifest files in {out} match the code")
        return True
    written = write(files, out)
    typer.echo(f"wrote {len(written)} files to {out}")
    return True


def register(app: typer.Typer) -> None:
    """Add the `manifests` command to the funchost typer app."""
    app.command("manifests")(manifests_command)


def main() -> None:
    """`python -m funchost.manifests PATH --out DIR` (the same as `funchost manifests`)."""
    app = typer.Typer(add_completion=False)
    register(app)
    app()
