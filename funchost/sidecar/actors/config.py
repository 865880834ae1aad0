"""The app's actor configuration, as served on `GET /dapr/config`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from ..timeformats import DurationError, duration_seconds

log = logging.getLogger("funchost.sidecar.actors")

DEFAULT_IDLE_TIMEOUT = 3600.0
DEFAULT_SCAN_INTERVAL = 30.0
DEFAULT_DRAIN_TIMEOUT = 60.0
DEFAULT_MAX_STACK_DEPTH = 32


@dataclass(frozen=True)
class TypeConfig:
    """Settings that apply to one actor type."""

    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    scan_interval: float = DEFAULT_SCAN_INTERVAL
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    drain_rebalanced: bool = True
    reentrancy: bool = False
    max_stack_depth: int = DEFAULT_MAX_STACK_DEPTH


@dataclass(frozen=True)
class ActorsConfig:
    """Every hosted actor type and its settings."""

    types: dict[str, TypeConfig] = field(default_factory=dict)
    defaults: TypeConfig = field(default_factory=TypeConfig)

    @property
    def entities(self) -> list[str]:
        return sorted(self.types)

    @property
    def scan_interval(self) -> float:
        values = [t.scan_interval for t in self.types.values()] or [self.defaults.scan_interval]
        return max(0.001, min(values))

    @property
    def drain_timeout(self) -> float:
        values = [t.drain_timeout for t in self.types.values()] or [self.defaults.drain_timeout]
        return max(values)


def _seconds(doc: dict[str, Any], key: str, default: float, where: str) -> float:
    value = doc.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return duration_seconds(str(value))
    except DurationError as exc:
        log.warning("%s: %s is not a valid duration (%s); using the default", where, key, exc)
        return default


def _overlay(base: TypeConfig, doc: dict[str, Any], where: str) -> TypeConfig:
    reentrancy = doc.get("reentrancy") or {}
    enabled = base.reentrancy
    depth = base.max_stack_depth
    if isinstance(reentrancy, dict) and reentrancy:
        enabled = bool(reentrancy.get("enabled", enabled))
        raw_depth = reentrancy.get("maxStackDepth")
        if raw_depth is not None:
            depth = int(raw_depth)
    drain_rebalanced = doc.get("drainRebalancedActors")
    return replace(
        base,
        idle_timeout=_seconds(doc, "actorIdleTimeout", base.idle_timeout, where),
        scan_interval=_seconds(doc, "actorScanInterval", base.scan_interval, where),
        drain_timeout=_seconds(doc, "drainOngoingCallTimeout", base.drain_timeout, where),
        drain_rebalanced=base.drain_rebalanced
        if drain_rebalanced is None
        else bool(drain_rebalanced),
        reentrancy=enabled,
        max_stack_depth=max(1, depth),
    )


def parse_config(doc: dict[str, Any] | None) -> ActorsConfig:
    """Build the configuration from the `/dapr/config` JSON document (None = no actors)."""
    if not doc:
        return ActorsConfig()
    defaults = _overlay(TypeConfig(), doc, "/dapr/config")
    types: dict[str, TypeConfig] = {name: defaults for name in doc.get("entities") or []}
    for entry in doc.get("entitiesConfig") or []:
        if not isinstance(entry, dict):
            continue
        per_type = _overlay(defaults, entry, "/dapr/config entitiesConfig")
        for name in entry.get("entities") or []:
            types[name] = per_type
    return ActorsConfig(types=types, defaults=defaults)
