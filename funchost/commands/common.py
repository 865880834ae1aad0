"""What the CLI commands share: the consoles, loading a functions folder, building the app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from funchost.errors import FunchostError

console = Console()
err_console = Console(stderr=True)


def require_free_port(host: str, port: int, flag: str) -> None:
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


def rel(file: str) -> str:
    """`file` relative to the working directory when it can be."""
    try:
        return os.path.relpath(file)
    except ValueError:
        return file


def configure_logging(level: str) -> None:
    """Log at `level`: JSON lines when not a terminal (or FUNCHOST_LOG_FORMAT=json)."""
    from funchost.observability.logging import configure_logging as configure

    # JSON lines when not a terminal (or FUNCHOST_LOG_FORMAT=json), colour in a terminal.
    configure(level=level.upper())


def load(path: Path, plugins: bool) -> Any:
    """The registry of PATH; exit 1 with the error (file:line), warn when it is empty."""
    from funchost.discovery import discover

    try:
        registry = discover(path, plugins=plugins)
    except FunchostError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if not len(registry):
        from funchost.triggers import kinds

        decorators = [f"@{kind}" for kind in kinds()]
        err_console.print(
            f"[yellow]warning:[/] no functions found in {path}: decorate functions with "
            f"{', '.join(decorators[:-1])} or {decorators[-1]}",
            highlight=False,
            soft_wrap=True,
        )
    return registry


def build(registry: Any, settings: Any) -> Any:
    """The ASGI app; exit 1 with the error when a definition is invalid."""
    from funchost.app import create_app

    try:
        return create_app(registry, settings)
    except FunchostError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from exc


def unreachable(url: str, exc: Exception) -> NoReturn:
    """Exit 1 saying no sidecar answers at `url` and how to start one."""
    err_console.print(
        f"[bold red]error:[/] no sidecar answers at {url} ({exc}): start the app with "
        "`funchost run PATH`, or pass --sidecar with its HTTP URL",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1) from None
