"""`funchost new NAME [--template minimal|agent]`: start a project that runs and tests green.

The project is rendered from the templates shipped in this package (``templates/common`` plus
``templates/<template>``): a ``functions/`` folder, ``components/``, ``tests/`` using the
pytest plugin, a ``dapr.yaml`` for ``dapr run -f .``, a ``Dockerfile``, a ``pyproject.toml``
and a README. In the templates ``__NAME__`` is the project name and ``__VERSION__`` funchost's
version; files named ``dot-x`` become ``.x`` and ``x-tpl`` become ``x`` (``*.py-tpl`` and
``pyproject.toml-tpl`` stay out of funchost's own lint and type checks).
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer

from funchost.errors import FunchostError

__all__ = ["TEMPLATES", "ScaffoldError", "new_project", "register"]

#: template name -> one-line description (shown by --help).
TEMPLATES = {
    "minimal": "an HTTP method, a pub/sub handler and state",
    "agent": "an actor with a reminder, a durable workflow with activities, an HTTP API",
}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class ScaffoldError(FunchostError):
    """The project cannot be created where asked (bad name, folder not empty, ...)."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("funchost")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.1.0"


def _app_id(folder: Path) -> str:
    name = folder.resolve().name
    app_id = name.lower().replace("_", "-")
    if not _NAME.match(app_id):
        raise ScaffoldError(
            f"project name {name!r} cannot be a Dapr app id: use lower-case letters, digits "
            "and '-' (start and end with a letter or digit), e.g. `funchost new my-app`"
        )
    return app_id


def _render(source: Traversable, target: Path, values: dict[str, str]) -> list[Path]:
    written = []
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        name = item.name
        if name == "__pycache__":
            continue
        if name.startswith("dot-"):
            name = "." + name[4:]
        name = name.removesuffix("-tpl")
        out = target / name
        if item.is_dir():
            out.mkdir(exist_ok=True)
            written += _render(item, out, values)
            continue
        text = item.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        out.write_text(text, encoding="utf-8")
        written.append(out)
    return written


def new_project(folder: Path, template: str = "minimal") -> list[Path]:
    """Create the project in ``folder`` (missing or empty); return the files written."""
    if template not in TEMPLATES:
        raise ScaffoldError(
            f"unknown template {template!r}: use one of {', '.join(sorted(TEMPLATES))}"
        )
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder} exists and is not a folder: choose another NAME")
    if folder.is_dir() and any(folder.iterdir()):
        raise ScaffoldError(
            f"{folder} already exists and is not empty: choose another NAME, or remove it "
            "first (funchost new never overwrites files)"
        )
    values = {"__NAME__": _app_id(folder), "__VERSION__": _version()}
    root = resources.files(__name__).joinpath("templates")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        written = _render(root.joinpath("common"), folder, values)
        written += _render(root.joinpath(template), folder, values)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return written


def new(
    name: Annotated[Path, typer.Argument(help="Folder to create (its name is the app id).")],
    template: Annotated[
        str,
        typer.Option(
            "--template",
            "-t",
            help="; ".join(f"{k}: {v}" for k, v in TEMPLATES.items()),
            envvar="FUNCHOST_TEMPLATE",
        ),
    ] = "minimal",
) -> None:
    """Create a project: functions/, components/, tests/, dapr.yaml, Dockerfile, README."""
    from rich.console import Console
    from rich.markup import escape

    try:
        written = new_project(name, template)
    except FunchostError as exc:
        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from exc
    typer.echo(
        f"created {name}/ ({template} template, {len(written)} files). Next:\n"
        f"  cd {name}\n"
        "  python -m pytest              # the tests, on the embedded sidecar\n"
        "  funchost run functions/       # the app on http://127.0.0.1:8000"
    )


def register(app: typer.Typer) -> None:
    """Add `funchost new`."""
    app.command("new")(new)
