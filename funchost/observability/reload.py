"""`funchost run --reload`: restart the app when the functions folder changes; the sidecar stays.

On a change, the folder is discovered again first: an import or definition error is printed and
the running app keeps serving. Otherwise the old app is stopped (its lifespan shuts the workflow
runtime down), the new app starts on the same port, and the sidecar re-reads the app's
configuration (`Sidecar.reconnect_app()`: subscriptions, actor types, bindings). Messages,
reminders and workflows live in the sidecar's store, so whatever arrives while the app is down
is delivered to the new app.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console

__all__ = ["AppServer", "Reloader", "purge_modules", "serve_with_reload"]

log = logging.getLogger("funchost.reload")


class AppServer:
    """One uvicorn server for an ASGI app, in a thread of its own (lifespan on)."""

    def __init__(self, app: Any, host: str, port: int, log_level: str = "info") -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host=host, port=port, log_level=log_level, lifespan="on", log_config=None
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="funchost-app", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; raise when the server did not come up (port taken, start-up error)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app server did not start (see the log above)")
            time.sleep(0.01)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving (lifespan shutdown runs) and join the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)


def purge_modules(folder: Path) -> dict[str, ModuleType]:
    """Remove the modules loaded from `folder` from `sys.modules`; return them (to restore)."""
    root = folder.resolve()
    removed: dict[str, ModuleType] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        try:
            inside = Path(file).resolve().is_relative_to(root)
        except (OSError, ValueError):
            continue
        if inside:
            removed[name] = sys.modules.pop(name)
    return removed


class Reloader:
    """Serves the app built from a folder and swaps it for a fresh one on `reload()`.

    `load()` discovers the folder (raising on errors), `build(registry)` makes the ASGI app,
    `reconnect()` tells the sidecar the app restarted.
    """

    def __init__(
        self,
        folder: Path,
        *,
        load: Callable[[], Any],
        build: Callable[[Any], Any],
        reconnect: Callable[[], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        log_level: str = "info",
        console: Console | None = None,
    ) -> None:
        self.folder = folder if folder.is_dir() else folder.parent
        self.load = load
        self.build = build
        self.reconnect = reconnect
        self.host = host
        self.port = port
        self.log_level = log_level
        self.console = console or Console(stderr=True)
        self.server: AppServer | None = None
        self.reloads = 0
        self.errors = 0

    def start(self, registry: Any, app: Any = None) -> None:
        """Serve `app` (default: built from an already discovered `registry`)."""
        app = app if app is not None else self.build(registry)
        self.server = AppServer(app, self.host, self.port, self.log_level)
        self.server.start()

    def reload(self, while_down: Callable[[], None] | None = None) -> bool:
        """Rediscover and swap apps; False (old app kept) when the new code does not load.

        `while_down` runs between stopping the old app and starting the new one (tests).
        """
        started = time.perf_counter()
        saved = purge_modules(self.folder)
        try:
            registry = self.load()
            app = self.build(registry)
        except Exception as exc:
            for name in list(sys.modules):
                if name not in saved and _inside(sys.modules[name], self.folder):
                    sys.modules.pop(name, None)
            sys.modules.update(saved)
            self.errors += 1
            self.console.print(
                f"[bold red]reload failed, the previous app keeps serving:[/] {exc}",
                highlight=False,
                soft_wrap=True,
            )
            return False
        if self.server is not None:
            self.server.stop()
        if while_down is not None:
            while_down()
        self.server = AppServer(app, self.host, self.port, self.log_level)
        self.server.start()
        if self.reconnect is not None:
            self.reconnect()
        self.reloads += 1
        count = len(registry) if hasattr(registry, "__len__") else "?"
        self.console.print(
            f"[green]reloaded[/] {count} functions in {time.perf_counter() - started:.2f} s",
            highlight=False,
        )
        return True

    def watch(self, stop_event: threading.Event | None = None, debounce_ms: int = 400) -> None:
        """Reload on every change of a .py file under the folder until Ctrl-C / `stop_event`."""
        import watchfiles

        self.console.print(f"[dim]watching {self.folder} for changes[/]", highlight=False)
        for changes in watchfiles.watch(
            self.folder,
            watch_filter=watchfiles.PythonFilter(),
            stop_event=stop_event,
            debounce=debounce_ms,
            raise_interrupt=False,
        ):
            names = sorted({Path(p).name for _, p in changes})
            self.console.print(f"[cyan]changed:[/] {', '.join(names)}", highlight=False)
            self.reload()

    def stop(self) -> None:
        """Stop the app server."""
        if self.server is not None:
            self.server.stop()
            self.server = None


def _inside(module: ModuleType, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    try:
        return bool(file) and Path(str(file)).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def serve_with_reload(
    path: Path,
    registry: Any,
    *,
    build: Callable[[Any], Any],
    app: Any = None,
    sidecar: Any = None,
    plugins: bool = True,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    console: Console | None = None,
) -> None:
    """What `funchost run --reload` calls: serve, watch, swap on change, until Ctrl-C.

    `sidecar` is the `SidecarThread` of the embedded sidecar (None under a real daprd, which
    re-reads the app's configuration by itself only on its own restart); `app` is the app
    already built from `registry`, if any.
    """
    from funchost.discovery import discover

    def reconnect() -> None:
        if sidecar is not None:
            sidecar.call(sidecar.sidecar.reconnect_app(), timeout=120.0)

    reloader = Reloader(
        path,
        load=lambda: discover(path, plugins=plugins),
        build=build,
        reconnect=reconnect,
        host=host,
        port=port,
        log_level=log_level,
        console=console,
    )
    reloader.start(registry, app)
    try:
        reloader.watch()
    finally:
        reloader.stop()
