"""Configuration stores by component type: a new store is one module plus one line here."""

from __future__ import annotations

from collections.abc import Callable

from ..component import Component
from ..subsystem import Runtime
from ._store import ConfigurationStore


def _sqlite(comp: Component, sidecar: Runtime) -> ConfigurationStore:
    from .sqlite import SqliteConfigurationStore

    return SqliteConfigurationStore(sidecar.store, comp.name)


def _redis(comp: Component, sidecar: Runtime) -> ConfigurationStore:
    from .redis import RedisConfigurationStore

    return RedisConfigurationStore(comp)


def _postgresql(comp: Component, sidecar: Runtime) -> ConfigurationStore:
    from .postgresql import PostgresConfigurationStore

    return PostgresConfigurationStore(comp)


#: `factory(component, sidecar)` by component type
CONFIGURATION_STORES: dict[str, Callable[[Component, Runtime], ConfigurationStore]] = {
    "configuration.sqlite": _sqlite,
    "configuration.redis": _redis,
    "configuration.postgresql": _postgresql,
    "configuration.postgres": _postgresql,
}
