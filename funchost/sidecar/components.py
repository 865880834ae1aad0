"""Dapr resources (Component, Subscription, Resiliency, Configuration YAML) and their defaults.

`load_resources(paths, app_id)` reads every `*.yaml`/`*.yml` in the resources folders (multi-doc
files included), keeps what is scoped to `app_id`, validates component types and adds built-in
defaults for a missing state store, pub/sub or secret store. Any problem raises `ComponentError`
naming the file and the field. `ResourcesSubsystem` (registered first) exposes the result to the
other subsystems: `sidecar.components.get("statestore")`,
`.actor_state_store()`, `.of_kind("bindings")`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .component import BINDING_TYPES, Component, ComponentError, SubscriptionDef, yaml_error
from .configuration.registry import CONFIGURATION_STORES
from .lock.registry import LOCK_STORES
from .pubsub.registry import BROKERS
from .state.registry import STATE_BACKENDS
from .subsystem import Runtime, Subsystem

log = logging.getLogger("funchost.sidecar.components")

#: Component types the embedded sidecar implements. Any other `bindings.*` type is accepted as an
#: output binding recorded in the local outbox (see outbox.py) and an input binding fed locally.
SUPPORTED_TYPES = {
    *STATE_BACKENDS,
    *BROKERS,
    *BINDING_TYPES,
    "secretstores.local.env",
    "secretstores.local.file",
    *CONFIGURATION_STORES,
    *LOCK_STORES,
}
KINDS = ("state", "pubsub", "bindings", "secretstores", "configuration", "lock")

DEFAULT_STATESTORE = "statestore"
DEFAULT_PUBSUB = "pubsub"
DEFAULT_SECRETSTORE = "localsecretstore"
DEFAULT_CONFIGSTORE = "configstore"
DEFAULT_LOCKSTORE = "lockstore"


@dataclass
class Resources:
    """Everything loaded from the resources folders."""

    components: dict[str, Component] = field(default_factory=dict)
    subscriptions: list[SubscriptionDef] = field(default_factory=list)
    resiliency: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    configurations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _err(source: str, where: str, what: str) -> ComponentError:
    return ComponentError(f"{source}: {where}: {what}")


def _str_map(raw: Any, source: str, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _err(source, where, "must be a mapping of strings")
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _parse_component(doc: dict[str, Any], source: str) -> Component | None:
    """The component in `doc`; None when its type is unsupported and `spec.ignoreErrors` is set."""
    meta = doc.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    if not name or not isinstance(name, str):
        raise _err(source, "metadata.name", "missing: every Component needs a name")
    spec = doc.get("spec")
    where = f"Component {name!r}"
    if not isinstance(spec, dict):
        raise _err(source, f"{where}: spec", "missing or not a mapping")
    ctype = spec.get("type")
    if not ctype or not isinstance(ctype, str):
        raise _err(source, f"{where}: spec.type", "missing (e.g. state.sqlite)")
    kind = ctype.split(".", 1)[0]
    if ctype not in SUPPORTED_TYPES and kind != "bindings":
        supported = ", ".join(sorted(SUPPORTED_TYPES))
        error = _err(
            source,
            f"{where}: spec.type",
            f"type {ctype!r} is not supported by the embedded sidecar (supported: {supported}); "
            "use one of these for local runs, set `ignoreErrors: true` to skip it, "
            "or run under daprd",
        )
        if _truthy(spec.get("ignoreErrors")):  # daprd: log and go on without the component
            log.warning(
                "Ignoring error processing component: process component %s error: %s", name, error
            )
            return None
        raise error
    comp = Component(
        name=name,
        type=ctype,
        version=str(spec.get("version") or "v1"),
        source=source,
        init_timeout=spec.get("initTimeout"),
    )
    items = spec.get("metadata") or []
    if not isinstance(items, list):
        raise _err(source, f"{where}: spec.metadata", "must be a list of {name, value} items")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("name"):
            raise _err(source, f"{where}: spec.metadata[{i}]", "needs a 'name'")
        key = str(item["name"])
        if "secretKeyRef" in item:
            ref = item["secretKeyRef"]
            if not isinstance(ref, dict) or not ref.get("name"):
                raise _err(
                    source, f"{where}: spec.metadata[{i}].secretKeyRef", "needs 'name' (and 'key')"
                )
            comp.secret_refs[key] = (str(ref["name"]), str(ref.get("key") or ref["name"]))
            continue
        value = item.get("value")
        if isinstance(value, bool):
            value = "true" if value else "false"
        comp.metadata[key] = "" if value is None else str(value)
    auth = doc.get("auth") or {}
    if isinstance(auth, dict) and auth.get("secretStore"):
        comp.auth_secret_store = str(auth["secretStore"])
    return comp


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _parse_subscription(doc: dict[str, Any], source: str) -> SubscriptionDef:
    meta = doc.get("metadata") or {}
    name = meta.get("name", "?") if isinstance(meta, dict) else "?"
    where = f"Subscription {name!r}"
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise _err(source, f"{where}: spec", "missing or not a mapping")
    for key in ("pubsubname", "topic"):
        if not spec.get(key):
            raise _err(source, f"{where}: spec.{key}", "missing")
    sub = SubscriptionDef(
        pubsubname=str(spec["pubsubname"]),
        topic=str(spec["topic"]),
        route=str(spec.get("route") or ""),
        dead_letter_topic=str(spec.get("deadLetterTopic") or ""),
        metadata=_str_map(spec.get("metadata"), source, f"{where}: spec.metadata"),
        bulk=dict(spec.get("bulkSubscribe") or {}),
        source=source,
    )
    routes = spec.get("routes")
    if routes is not None:
        if not isinstance(routes, dict):
            raise _err(source, f"{where}: spec.routes", "must be {rules: [...], default: path}")
        for i, rule in enumerate(routes.get("rules") or []):
            if not isinstance(rule, dict) or not rule.get("path"):
                raise _err(source, f"{where}: spec.routes.rules[{i}]", "needs 'match' and 'path'")
            sub.rules.append((str(rule.get("match") or ""), str(rule["path"])))
        sub.default = str(routes.get("default") or "")
    if not (sub.route or sub.default or sub.rules):
        raise _err(source, f"{where}: spec.route", "missing: give route (v1) or routes (v2)")
    return sub


def _scoped(doc: dict[str, Any], app_id: str) -> bool:
    scopes = doc.get("scopes")
    return not scopes or app_id in [str(s) for s in scopes]


def _yaml_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for base in paths:
        base = Path(base)
        if base.is_file():
            files.append(base)
        elif base.is_dir():
            files.extend(
                sorted(p for p in base.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            )
    return files


def load_resources(paths: list[Path], app_id: str, defaults: bool = True) -> Resources:
    """Load every resource file in `paths` for `app_id`; add built-in defaults when asked."""
    res = Resources()
    for path in _yaml_files(paths):
        source = str(path)
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise ComponentError(yaml_error(source, exc)) from None
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise ComponentError(f"{source}: each YAML document must be a mapping")
            kind = doc.get("kind")
            if not kind:
                raise _err(source, "kind", "missing (Component, Subscription, Resiliency...)")
            if not _scoped(doc, app_id):
                continue
            if kind == "Component":
                comp = _parse_component(doc, source)
                if comp is None:
                    continue
                if comp.name in res.components:
                    other = res.components[comp.name].source
                    raise _err(
                        source, f"Component {comp.name!r}", f"duplicate name (also in {other})"
                    )
                res.components[comp.name] = comp
            elif kind == "Subscription":
                res.subscriptions.append(_parse_subscription(doc, source))
            elif kind == "Resiliency":
                spec = doc.get("spec")
                if not isinstance(spec, dict):
                    raise _err(source, "Resiliency: spec", "missing or not a mapping")
                res.resiliency.append((source, spec))
            elif kind == "Configuration":
                res.configurations.append((source, doc.get("spec") or {}))
            else:
                log.info("%s: ignoring resource of kind %s", source, kind)
    if defaults:
        _add_defaults(res)
    return res


def _add_defaults(res: Resources) -> None:
    kinds = {c.kind for c in res.components.values()}
    if "state" not in kinds and DEFAULT_STATESTORE not in res.components:
        res.components[DEFAULT_STATESTORE] = Component(
            DEFAULT_STATESTORE, "state.sqlite", metadata={"actorStateStore": "true"}
        )
    if "pubsub" not in kinds and DEFAULT_PUBSUB not in res.components:
        res.components[DEFAULT_PUBSUB] = Component(DEFAULT_PUBSUB, "pubsub.in-memory")
    if "secretstores" not in kinds and DEFAULT_SECRETSTORE not in res.components:
        res.components[DEFAULT_SECRETSTORE] = Component(
            DEFAULT_SECRETSTORE, "secretstores.local.env"
        )
    if "configuration" not in kinds and DEFAULT_CONFIGSTORE not in res.components:
        res.components[DEFAULT_CONFIGSTORE] = Component(DEFAULT_CONFIGSTORE, "configuration.sqlite")
    if "lock" not in kinds and DEFAULT_LOCKSTORE not in res.components:
        res.components[DEFAULT_LOCKSTORE] = Component(DEFAULT_LOCKSTORE, "lock.sqlite")


class ResourcesSubsystem(Subsystem):
    """Loads the resources at construction (start-up errors surface early) and answers queries."""

    name = "components"

    def __init__(self, sidecar: Runtime) -> None:
        super().__init__(sidecar)
        cfg = sidecar.config
        self.resources = load_resources(list(cfg.resources_paths), cfg.app_id)
        self.components = self.resources.components
        from .runtime_config import RuntimeConfig, load_runtime_config

        config_path = getattr(cfg, "config_path", None)
        self.runtime_config = load_runtime_config(config_path) if config_path else RuntimeConfig()
        from .resiliency import Resiliency

        self.resiliency = Resiliency(self.resources.resiliency)
        for comp in self.components.values():
            if comp.outbox_only:
                log.warning(
                    "%s: binding %r of type %s is not delivered by the embedded sidecar: "
                    "output calls are recorded in the local outbox (funchost outbox)",
                    comp.source,
                    comp.name,
                    comp.type,
                )

    def get(self, name: str) -> Component | None:
        """The component called `name`, or None."""
        return self.components.get(name)

    def of_kind(self, kind: str) -> list[Component]:
        """Components of a kind: `state`, `pubsub`, `bindings`, `secretstores`."""
        return [c for c in self.components.values() if c.kind == kind]

    def actor_state_store(self) -> Component | None:
        """The state store flagged `actorStateStore: "true"` (None when there is none)."""
        for comp in self.of_kind("state"):
            if comp.flag("actorStateStore"):
                return comp
        return None

    def resolve_secrets(self, resolve: Any) -> None:
        """Fill `secretKeyRef` metadata with `resolve(store, name, key, component)`."""
        stores = [c.name for c in self.of_kind("secretstores")]
        for comp in self.components.values():
            for meta_key, (secret_name, secret_key) in comp.secret_refs.items():
                store = comp.auth_secret_store or (stores[0] if len(stores) == 1 else None)
                if store is None:
                    raise _err(
                        comp.source,
                        f"Component {comp.name!r}: auth.secretStore",
                        f"metadata {meta_key!r} uses secretKeyRef but no secret store is named",
                    )
                comp.metadata[meta_key] = resolve(store, secret_name, secret_key, comp)

    def metadata_info(self) -> dict[str, Any]:
        return {
            "enabledFeatures": self.runtime_config.enabled_features,  # --config spec.features
            "components": [
                {"name": c.name, "type": c.type, "version": c.version, "capabilities": []}
                for c in self.components.values()
            ],
        }
