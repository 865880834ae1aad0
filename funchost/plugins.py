"""The plugin manager: hook specs, built-in wiring plugins and entry-point plugins."""

from __future__ import annotations

import importlib
import os
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from funchost import hookspecs
from funchost._where import error_location
from funchost.errors import DiscoveryError

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "builtin_plugins",
    "get_plugin_manager",
    "hookimpl",
    "load_entry_point_plugins",
    "selected_plugin_names",
]

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
ENTRY_POINT_GROUP = "funchost"
#: Built-in plugins after the trigger wiring: observability, then graceful shutdown.
_AFTER_WIRING = ("funchost.observability.plugin", "funchost._shutdown_plugin")


def builtin_plugins() -> tuple[str, ...]:
    """The built-in plugin modules: each trigger kind's `wiring` (in kind order), then the rest."""
    from funchost.triggers import kinds

    wiring = [module for cls in kinds().values() for module in cls.wiring]
    return (*dict.fromkeys(wiring), *_AFTER_WIRING)


#: The built-in plugins when this module was imported, registered as ordinary plugins.
BUILTIN_PLUGINS = builtin_plugins()


def selected_plugin_names(value: str | None = None) -> set[str] | None:
    """Parse ``FUNCHOST_PLUGINS`` (comma-separated names; ``none`` = no plugins; unset = all)."""
    raw = os.environ.get("FUNCHOST_PLUGINS") if value is None else value
    if raw is None or raw.strip() in ("", "*", "all"):
        return None
    if raw.strip().lower() == "none":
        return set()
    return {part.strip() for part in raw.split(",") if part.strip()}


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def load_entry_point_plugins(pm: pluggy.PluginManager, only: set[str] | None = None) -> list[Any]:
    """Load plugins of the ``funchost`` entry-point group into ``pm``; return the objects.

    ``only`` (from ``FUNCHOST_PLUGINS``) limits which names load; an unknown name is an error.
    """
    available = _entry_points()
    if only is not None:
        unknown = sorted(only - {ep.name for ep in available})
        if unknown:
            names = ", ".join(ep.name for ep in available) or "none installed"
            raise DiscoveryError(
                f"FUNCHOST_PLUGINS names unknown plugin(s) {unknown}; available: {names}"
            )
    loaded: list[Any] = []
    for ep in available:
        if only is not None and ep.name not in only:
            continue
        if pm.has_plugin(ep.name):
            loaded.append(pm.get_plugin(ep.name))
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            file, line = error_location(exc)
            dist = ep.dist.name if ep.dist else "?"
            raise DiscoveryError(
                f"plugin '{ep.name}' ({ep.value}, distribution {dist}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                file,
                line,
            ) from exc
        pm.register(plugin, name=ep.name)
        loaded.append(plugin)
    return loaded


def get_plugin_manager(
    *, entry_points: bool = True, only: set[str] | None = None, builtins: bool = True
) -> pluggy.PluginManager:
    """A fresh plugin manager with funchost's hook specs and the built-in wiring.

    ``entry_points=True`` also loads the ``funchost`` entry-point group (filtered by
    ``only``, default from ``FUNCHOST_PLUGINS``).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if builtins:
        for name in builtin_plugins():
            pm.register(importlib.import_module(name), name=name)
    if entry_points:
        load_entry_point_plugins(pm, selected_plugin_names() if only is None else only)
    return pm
