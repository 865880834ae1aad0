"""pluggy hook specifications of funchost (project name ``funchost``, prefix ``funchost_``).

A plugin is a module or object with functions marked ``@funchost.plugins.hookimpl``; it is
loaded from the entry-point group ``funchost`` (``FUNCHOST_PLUGINS`` limits which) or
registered by hand. Hooks are called with keyword arguments only. The built-in trigger
wiring (``funchost.wiring.*``) is made of plugins implementing the same hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from fastapi import FastAPI

    from funchost.registry import Registry
    from funchost.settings import Settings
    from funchost.triggers import Definition

PROJECT = "funchost"
hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "hookspec"]


@hookspec
def funchost_add_functions(settings: Settings) -> Iterable[Any] | None:
    """Contribute functions to the app being discovered.

    Params: ``settings``: the host settings.
    Returns: an iterable of decorated functions/classes, modules (every decorated attribute
    is taken) or definitions; or None. All results are collected (not first-result).
    """


@hookspec
def funchost_wire(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Add the routes that deliver events to the registry's functions.

    Params: ``app``: the FastAPI app being built; ``registry``: the validated registry;
    ``settings``: the host settings. Each built-in ``funchost.wiring`` module implements it
    for its trigger kind. Returns nothing; every implementation is called.
    """


@hookspec
def funchost_wrap_handler(
    definition: Definition, handler: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]] | None:
    """Wrap the coroutine that calls a function (tracing, metrics, logging scopes).

    Called once per definition at app build time, never per event. Params: ``definition``:
    the function's definition; ``handler``: ``async (ctx) -> result`` calling it (``ctx``
    is the `FunctionContext`: ``ctx.event``, ``ctx.data``, ``ctx.metadata``...).
    Returns a wrapper with the same signature, or None to leave it alone. Every
    implementation is called; each wrapper wraps the previous result.
    """


@hookspec
def funchost_configure_app(app: FastAPI, registry: Registry, settings: Settings) -> None:
    """Adjust the FastAPI app after the wiring (middleware, extra routes, state).

    Params: ``app``, ``registry``, ``settings`` as for ``funchost_wire``. Returns nothing;
    every implementation is called.
    """


@hookspec
def funchost_startup(
    app: FastAPI, registry: Registry, settings: Settings
) -> Awaitable[None] | None:
    """Run at app start-up (inside the lifespan, before requests are served).

    Params: ``app``, ``registry``, ``settings``. Returns None or an awaitable, which is
    awaited. Every implementation is called (pluggy order: last registered first). The
    sidecar may not be ready yet: long waits belong in a background task.
    """


@hookspec
def funchost_shutdown(
    app: FastAPI, registry: Registry, settings: Settings
) -> Awaitable[None] | None:
    """Run at app shutdown (inside the lifespan, after requests stop).

    Params: ``app``, ``registry``, ``settings``. Returns None or an awaitable, which is
    awaited. Every implementation is called; an error in one is logged and does not stop
    the others.
    """
