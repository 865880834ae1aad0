"""Component type -> configuration store factory: one registration line per type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..components import Component
from ._store import ConfigurationStore


def _sqlite(comp: Component, sidecar: Any) -> ConfigurationStore:
    from .sqlite import SqliteConfigurationStore

    return SqliteConfigurationStore(sidecar.store, comp.name)


def _redis(comp: Component, sidecar: Any) -> ConfigurationStore:
    from .redis import RedisConfigurationStore

    return RedisConfigurationStore(comp)


def _postgresql(comp: Component, sidecar: Any) -> ConfigurationStore:
    from .postgresql import PostgresConfigurationStore

    return PostgresConfigurationStore(comp)


STORE_TYPES: dict[str, Callable[[Component, Any], ConfigurationStore]] = {
    "configuration.sqlite": _sqlite,
    "configuration.redis": _redis,
    "configuration.postgresql": _postgresql,
    "configuration.postgres": _postgresql,
}
