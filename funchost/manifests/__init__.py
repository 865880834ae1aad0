"""Dapr and Kubernetes YAML rendered from the registered functions (the decorators are the truth).

`render(registry, ManifestOptions(...))` returns ``{relative path: YAML text}``; `write` puts the
files in a folder, `check` diffs them against the committed ones (``funchost manifests --check``).
Modules: `render` (the file set), `dapr` (Configuration, Resiliency, Subscriptions, crons),
`kubernetes` (Deployment, PDB, autoscaler per scale unit), `brokers` (what KEDA reads from the
pub/sub Components), `command` (the CLI command). Scale units themselves are `funchost.units`.
"""

from __future__ import annotations

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
