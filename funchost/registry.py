"""The registry: the validated set of definitions one app serves."""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from funchost.errors import RegistryError
from funchost.triggers import (
    ActivityDef,
    ActorDef,
    BindingDef,
    CronDef,
    Definition,
    InvokeDef,
    TopicDef,
    WorkflowDef,
    definitions_of,
    kinds,
)

__all__ = ["RESERVED_ROUTES", "Registry"]

D = TypeVar("D", bound=Definition)

#: Paths the host serves itself; no trigger may use them.
RESERVED_ROUTES = ("/healthz", "/dapr/subscribe", "/dapr/config", "/functions", "/metrics")
#: The trigger kinds, in declaration order (`funchost list` sorts by it).
KINDS = tuple(kinds())


class Registry:
    """Collects definitions from modules, objects or plugins, and validates them.

    ``add()`` accepts a decorated function/class, a module (every decorated attribute
    is taken) or a `Definition`. The same definition added twice is kept once.
    """

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._defs: list[Definition] = []
        self._seen: set[int] = set()
        self.sources: list[str] = []
        self.plugin_manager: Any = None
        for item in items:
            self.add(item)

    def add(self, item: Any) -> Registry:
        """Add a decorated object, a module, a `Definition` or an iterable of those."""
        if isinstance(item, Definition):
            self._add_def(item)
        elif isinstance(item, types.ModuleType):
            self.add_module(item)
        elif definitions_of(item):
            for definition in definitions_of(item):
                self._add_def(definition)
        elif isinstance(item, list | tuple | set | frozenset):
            for sub in item:
                self.add(sub)
        else:
            raise RegistryError(
                f"{item!r} is not a decorated function, class or module: decorate it with "
                + "/".join(f"@{kind}" for kind in kinds())
            )
        return self

    def add_module(self, module: types.ModuleType) -> int:
        """Add every decorated attribute of ``module``; return how many definitions it added."""
        before = len(self._defs)
        for value in list(vars(module).values()):
            for definition in definitions_of(value):
                self._add_def(definition)
        return len(self._defs) - before

    def _add_def(self, definition: Definition) -> None:
        if id(definition) in self._seen:
            return
        self._seen.add(id(definition))
        self._defs.append(definition)

    def __iter__(self) -> Iterator[Definition]:
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)

    @property
    def definitions(self) -> tuple[Definition, ...]:
        """Every definition, in the order added."""
        return tuple(self._defs)

    def of(self, cls: type[D]) -> list[D]:
        """The definitions of one kind, e.g. ``registry.of(TopicDef)``."""
        return [d for d in self._defs if isinstance(d, cls)]

    @property
    def topics(self) -> list[TopicDef]:
        return self.of(TopicDef)

    @property
    def bindings(self) -> list[BindingDef]:
        return self.of(BindingDef)

    @property
    def crons(self) -> list[CronDef]:
        return self.of(CronDef)

    @property
    def invokes(self) -> list[InvokeDef]:
        return self.of(InvokeDef)

    @property
    def actors(self) -> list[ActorDef]:
        return self.of(ActorDef)

    @property
    def workflows(self) -> list[WorkflowDef]:
        return self.of(WorkflowDef)

    @property
    def activities(self) -> list[ActivityDef]:
        return self.of(ActivityDef)

    def get(self, kind: str, name: str) -> Definition:
        """The definition of ``kind`` called ``name`` (KeyError when absent)."""
        for definition in self._defs:
            if definition.kind == kind and definition.name == name:
                return definition
        raise KeyError(f"no {kind} named {name!r}")

    def validate(self) -> Registry:
        """Raise `RegistryError` on duplicate names, clashing routes or inconsistent topics."""
        names: dict[tuple[str, str], Definition] = {}
        for d in self._defs:
            key = (d.kind, d.name)
            if key in names:
                other = names[key]
                raise RegistryError(
                    f"{d.where}: duplicate {d.kind} name '{d.name}' (also defined at "
                    f"{other.where}): rename one, e.g. with name=..."
                )
            names[key] = d
        self._check_routes()
        self._check_topics()
        return self

    def _check_routes(self) -> None:
        owners: dict[tuple[str, str], Definition] = {}
        for d in self._defs:
            route = getattr(d, "route", None)
            if route is None:
                continue
            if route in RESERVED_ROUTES or route.startswith(("/actors/", "/dapr/")):
                raise RegistryError(
                    f"{d.where}: route '{route}' of {d.kind} '{d.name}' is reserved by the host: "
                    "pick another route"
                )
            verbs = d.methods if isinstance(d, InvokeDef) else ("POST",)
            for verb in verbs:
                key = (verb, route)
                other = owners.get(key)
                if other is not None and other is not d:
                    raise RegistryError(
                        f"{d.where}: {verb} {route} of {d.kind} '{d.name}' clashes with "
                        f"{other.kind} '{other.name}' at {other.where}: give one a distinct "
                        "name or route"
                    )
                owners[key] = d

    def _check_topics(self) -> None:
        groups: dict[tuple[str, str], list[TopicDef]] = {}
        for t in self.topics:
            groups.setdefault((t.pubsub, t.topic), []).append(t)
        for (pubsub, topic), items in groups.items():
            defaults = [t for t in items if t.match is None]
            if len(defaults) > 1:
                raise RegistryError(
                    f"{defaults[1].where}: '{defaults[1].name}' and '{defaults[0].name}' "
                    f"({defaults[0].where}) both take every event of {pubsub}/{topic}: give one "
                    "a match= expression"
                )
            for attr in ("dead_letter_topic", "bulk", "bulk_max_messages", "bulk_max_await_ms"):
                values = {getattr(t, attr) for t in items}
                if len(values) > 1:
                    raise RegistryError(
                        f"{items[-1].where}: handlers of {pubsub}/{topic} disagree on {attr} "
                        f"({sorted(map(str, values))}): Dapr allows one subscription per topic, "
                        "set the same value on each"
                    )
            merged: dict[str, str] = {}
            for t in items:
                for key, value in t.metadata.items():
                    if merged.setdefault(key, value) != value:
                        raise RegistryError(
                            f"{t.where}: handlers of {pubsub}/{topic} disagree on metadata "
                            f"'{key}': set the same value on each"
                        )

    def subscriptions(self) -> list[dict[str, Any]]:
        """The ``GET /dapr/subscribe`` items (Dapr v2 format), one per pubsub/topic."""
        groups: dict[tuple[str, str], list[TopicDef]] = {}
        for t in self.topics:
            groups.setdefault((t.pubsub, t.topic), []).append(t)
        items: list[dict[str, Any]] = []
        for (pubsub, topic), defs in groups.items():
            rules: list[dict[str, str]] = []
            default: str | None = None
            metadata: dict[str, str] = {}
            for t in defs:
                rules.extend({"match": r.match, "path": r.path} for r in t.rules)
                if t.match is not None:
                    rules.append({"match": t.match, "path": t.route})
                else:
                    default = t.route
                metadata.update(t.metadata)
            routes: dict[str, Any] = {"rules": rules}
            if default is not None:
                routes["default"] = default
            item: dict[str, Any] = {"pubsubname": pubsub, "topic": topic, "routes": routes}
            first = defs[0]
            if first.dead_letter_topic:
                item["deadLetterTopic"] = first.dead_letter_topic
            if metadata:
                item["metadata"] = metadata
            if first.bulk:
                item["bulkSubscribe"] = {
                    "enabled": True,
                    "maxMessagesCount": first.bulk_max_messages,
                    "maxAwaitDurationMs": first.bulk_max_await_ms,
                }
            items.append(item)
        return items

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready list of every definition (``GET /functions``)."""
        return [d.describe() for d in self._defs]
