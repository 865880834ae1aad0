"""Scale units: which definitions one replica serves (`FUNCHOST_ENABLE` / `--enable`).

A spec is a comma (or space) separated list of tokens, each one of:

- a unit name: ``api`` (invoke), ``workers`` (topic, binding, cron, config), ``actors`` (actor),
  ``workflows`` (workflow + activity);
- a trigger kind: ``invoke``, ``topic``, ``binding``, ``cron``, ``config``, ``actor``,
  ``workflow``, ``activity``;
- a function name (the definition's ``name``, e.g. ``on_order`` or ``TaskActor``).

Empty, ``all`` or ``*`` serves everything. Three rules keep a split deployment correct on Dapr
(every unit runs under the same app id):

- workflows and activities are all-or-nothing: daprd may place any workflow or activity of the
  app id on any replica that runs a workflow worker, so a replica serving one serves all;
- all handlers of one pub/sub topic go together: Dapr has one subscription per topic and app id
  (consumer group = app id), so splitting them would split the topic's events between units;
- Dapr-job crons (``@cron`` without ``per_replica``) are served by every unit: the scheduler
  delivers a job to any replica of the app id. Per-replica crons are ``bindings.cron``
  components, which daprd only starts where the app answers ``OPTIONS /<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from funchost.errors import ConfigError
from funchost.registry import Registry
from funchost.triggers import Definition, kinds

__all__ = ["KINDS", "UNITS", "parse_units", "select_enabled", "unit_kinds"]

_UNIT_ORDER = ("api", "workers", "actors", "workflows")  # how units are listed


def _units() -> dict[str, tuple[str, ...]]:
    """Built-in unit -> its kinds, from each definition class's `unit`."""
    units: dict[str, tuple[str, ...]] = {name: () for name in _UNIT_ORDER}
    for kind, cls in kinds().items():
        units[cls.unit] = (*units.get(cls.unit, ()), kind)
    return {name: members for name, members in units.items() if members}


def _kinds(units: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(kind for members in units.values() for kind in members)


#: The built-in units and kinds when this module was imported (plugins' kinds come later).
UNITS: dict[str, tuple[str, ...]] = _units()
KINDS: tuple[str, ...] = _kinds(UNITS)
_ALL = {"", "all", "*"}
_UNIT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def _tokens(spec: str | Iterable[str] | None) -> list[str]:
    if spec is None:
        return []
    raw = [spec] if isinstance(spec, str) else list(spec)
    return [t for item in raw for t in re.split(r"[,\s+]+", item.strip()) if t]


def unit_kinds(token: str) -> tuple[str, ...] | None:
    """The kinds a unit or kind token stands for (None when it is neither)."""
    low = token.lower()
    units = _units()
    if low in units:
        return units[low]
    cls = kinds().get(low)
    if cls is None:
        return None
    return units[cls.unit] if cls.unit_whole else (low,)


def select_enabled(registry: Registry, spec: str | Iterable[str] | None) -> Registry:
    """The registry restricted to what `spec` enables (see the module docstring).

    Returns `registry` itself when everything is enabled. Raises `ConfigError` naming an unknown
    token and the valid choices.
    """
    tokens = _tokens(spec)
    if not tokens or any(t.lower() in _ALL for t in tokens):
        return registry
    definitions = list(registry)
    units = _units()
    enabled_kinds: set[str] = set()
    chosen: set[int] = set()
    for token in tokens:
        expanded = unit_kinds(token)
        if expanded is not None:
            enabled_kinds.update(expanded)
            continue
        named = [d for d in definitions if d.name == token]
        if not named:
            known = sorted({d.name for d in definitions})
            raise ConfigError(
                f"FUNCHOST_ENABLE / --enable: unknown unit, kind or function {token!r}: use a unit "
                f"({', '.join(units)}), a kind ({', '.join(_kinds(units))}) or a function name "
                f"({', '.join(known) or 'none registered'})"
            )
        chosen.update(id(d) for d in named)
    selected = [d for d in definitions if d.kind in enabled_kinds or id(d) in chosen]
    selected = _close(definitions, selected)
    result = Registry(selected)
    result.sources = list(getattr(registry, "sources", []))
    result.plugin_manager = getattr(registry, "plugin_manager", None)
    return result


def _close(definitions: list[Definition], selected: list[Definition]) -> list[Definition]:
    """Apply the three rules of the module docstring, keeping the registry's order."""
    keep = {id(d) for d in selected}
    groups = {d.unit_group for d in selected} - {None}
    keep.update(id(d) for d in definitions if d.unit_group in groups or d.every_unit)
    return [d for d in definitions if id(d) in keep]


def parse_units(spec: str | Iterable[str] | None) -> dict[str, str]:
    """``--units`` -> {unit name: enable spec}.

    ``api,workers`` uses the built-in units; ``stateful=actor+workflow`` defines a custom one.
    """
    units: dict[str, str] = {}
    for item in _tokens_keep_plus(spec):
        name, _, enable = item.partition("=")
        name = name.strip().lower()
        enable = enable.strip() or name
        if not _UNIT_NAME.match(name):
            raise ConfigError(
                f"--units: unit name {name!r} is invalid: use lower-case letters, digits and '-'"
            )
        if name in units:
            raise ConfigError(f"--units: unit {name!r} is listed twice")
        units[name] = enable.replace("+", ",")
    return units


def _tokens_keep_plus(spec: str | Iterable[str] | None) -> list[str]:
    if spec is None:
        return []
    raw = [spec] if isinstance(spec, str) else list(spec)
    return [t for item in raw for t in re.split(r"[,\s]+", item.strip()) if t]
