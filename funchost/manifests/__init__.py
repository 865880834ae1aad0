"""Dapr and Kubernetes YAML rendered from the registered functions (the decorators are the truth).

`render(registry, ManifestOptions(...))` returns ``{relative path: YAML text}``; `write` puts the
files in a folder, `check` diffs them against the committed ones (``funchost manifests --check``).
Modules: `render` (the file set), `dapr` (Configuration, Resiliency, Subscriptions, crons),
`kubernetes` (Deployment, PDB, autoscaler per scale unit), `brokers` (what KEDA reads from the
pub/sub Components), `command` (the CLI command). Scale units themselves are `funchost.units`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from funchost.manifests.command import register
    from funchost.manifests.options import ManifestOptions
    from funchost.manifests.render import (
        HEADER,
        check,
        options_from,
        render,
        write,
    )
    from funchost.units import select_enabled

__all__ = [
    "HEADER",
    "ManifestOptions",
    "check",
    "options_from",
    "register",
    "render",
    "select_enabled",
    "write",
]

# Names load on first use (PEP 562): the CLI registers the command (`command.register`) in every
# `funchost` process, `funchost run` included, without the renderers and YAML.
_LAZY = {
    "register": "funchost.manifests.command",
    "ManifestOptions": "funchost.manifests.options",
    **dict.fromkeys(
        ("HEADER", "check", "options_from", "render", "write"), "funchost.manifests.render"
    ),
    "select_enabled": "funchost.units",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funchost.manifests' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
