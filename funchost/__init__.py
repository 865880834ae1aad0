"""funchost: an event-driven function host on Dapr.

Decorate functions (`topic`, `binding`, `cron`, `invoke`, `actor`, `workflow`, `activity`),
drop them in a folder, then ``registry = discover("functions/")`` and
``app = create_app(registry, Settings())`` (or simply ``funchost run functions/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funchost.errors import (
    ConfigError,
    DefinitionError,
    DiscoveryError,
    Drop,
    FunchostError,
    RegistryError,
    Retry,
)

if TYPE_CHECKING:
    from funchost.app import create_app
    from funchost.context import EtagMismatch, FunctionContext
    from funchost.discovery import discover
    from funchost.locks import LockNotAcquired
    from funchost.registry import Registry
    from funchost.settings import Settings
    from funchost.triggers import (
        activity,
        actor,
        binding,
        config_change,
        cron,
        invoke,
        topic,
        workflow,
    )
    from funchost.wiring.actors import actor_proxy

__all__ = [
    "ConfigError",
    "DefinitionError",
    "DiscoveryError",
    "Drop",
    "EtagMismatch",
    "FunchostError",
    "FunctionContext",
    "LockNotAcquired",
    "Registry",
    "RegistryError",
    "Retry",
    "Settings",
    "activity",
    "actor",
    "actor_proxy",
    "binding",
    "config_change",
    "create_app",
    "cron",
    "discover",
    "invoke",
    "topic",
    "workflow",
]

# The decorators load on first use too: a process that imports only part of the package (the
# standalone sidecar, `funchost.sidecar.standalone`) then holds no triggers, croniter, dateutil.
_LAZY = {
    **dict.fromkeys(
        ("activity", "actor", "binding", "config_change", "cron", "invoke", "topic", "workflow"),
        "funchost.triggers",
    ),
    "create_app": "funchost.app",
    "FunctionContext": "funchost.context",
    "EtagMismatch": "funchost.context",
    "discover": "funchost.discovery",
    "LockNotAcquired": "funchost.locks",
    "Registry": "funchost.registry",
    "Settings": "funchost.settings",
    "actor_proxy": "funchost.wiring.actors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funchost' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
