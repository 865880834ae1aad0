"""The Dapr `Configuration` resource given with `--config FILE` (daprd's `--config`).

Read: `spec.secrets.scopes` (secret access lists, applied by secrets.py), `spec.tracing`
(`samplingRate`, `otel.endpointAddress`/`protocol`/`isSecure`), `spec.features`
(`[{name, enabled}]`, listed as the metadata API's `enabledFeatures`) and `spec.workflow`
(`maxConcurrentWorkflowInvocations`, `maxConcurrentActivityInvocations`: work items outstanding
on the app's workers at once). Other fields are accepted and ignored. A malformed file fails
with `FILE:LINE: spec.FIELD: what is wrong`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .component import ComponentError, yaml_error


@dataclass
class RuntimeConfig:
    """What the sidecar uses from a Dapr Configuration."""

    source: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    secret_scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    sampling_rate: float | None = None
    otel_endpoint: str = ""
    otel_protocol: str = ""
    otel_secure: bool | None = None
    features: dict[str, bool] = field(default_factory=dict)
    max_concurrent_workflows: int | None = None
    max_concurrent_activities: int | None = None

    @property
    def enabled_features(self) -> list[str]:
        return sorted(name for name, on in self.features.items() if on)


class _Where:
    """Line numbers of a YAML document's nodes, by path (`("spec", "tracing", 0)`)."""

    def __init__(self, source: str, node: yaml.Node | None) -> None:
        self.source = source
        self.root = node

    def line(self, path: tuple[str | int, ...]) -> int:
        node = self.root
        best = node.start_mark.line + 1 if node is not None else 1
        for key in path:
            nxt: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if getattr(k, "value", None) == key:
                        nxt = v
                        best = k.start_mark.line + 1
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(key, int)
                and key < len(node.value)
            ):
                nxt = node.value[key]
                best = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return best

    def error(self, path: tuple[str | int, ...], what: str) -> ComponentError:
        dotted = ""
        for key in path:
            dotted += f"[{key}]" if isinstance(key, int) else (f".{key}" if dotted else key)
        return ComponentError(f"{self.source}:{self.line(path)}: {dotted}: {what}")


def _mapping(where: _Where, value: Any, path: tuple[str | int, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.error(path, f"must be a mapping, got {type(value).__name__}")
    return value


def _list(where: _Where, value: Any, path: tuple[str | int, ...]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(path, f"must be a list, got {type(value).__name__}")
    return value


def _strings(where: _Where, value: Any, path: tuple[str | int, ...]) -> list[str]:
    items = _list(where, value, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise where.error((*path, i), f"must be a string, got {item!r}")
    return items


def _bool(where: _Where, value: Any, path: tuple[str | int, ...]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise where.error(path, f"must be true or false, got {value!r}")


def _positive_int(where: _Where, value: Any, path: tuple[str | int, ...]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise where.error(path, f"must be a positive integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise where.error(path, f"must be a positive integer, got {value!r}") from None
    if number < 1:
        raise where.error(path, f"must be a positive integer, got {value!r}")
    return number


def _secret_scopes(where: _Where, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    secrets = _mapping(where, spec.get("secrets"), ("spec", "secrets"))
    scopes: dict[str, dict[str, Any]] = {}
    for i, scope in enumerate(_list(where, secrets.get("scopes"), ("spec", "secrets", "scopes"))):
        path: tuple[str | int, ...] = ("spec", "secrets", "scopes", i)
        scope = _mapping(where, scope, path)
        store = scope.get("storeName")
        if not isinstance(store, str) or not store:
            raise where.error((*path, "storeName"), "missing (the secret store's name)")
        access = scope.get("defaultAccess", "allow")
        if not isinstance(access, str) or access.lower() not in ("allow", "deny"):
            raise where.error((*path, "defaultAccess"), f"must be allow or deny, got {access!r}")
        lists = {
            name: _strings(where, scope.get(name), (*path, name))
            for name in ("allowedSecrets", "deniedSecrets")
        }
        scopes[store] = {"storeName": store, "defaultAccess": access.lower(), **lists}
    return scopes


def parse_runtime_config(text: str, source: str) -> RuntimeConfig:
    """Parse a Configuration document; raises ComponentError naming file, line and field."""
    try:
        node = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ComponentError(yaml_error(source, exc)) from None
    where = _Where(source, node)
    doc = _mapping(where, doc, ())
    if doc.get("kind") != "Configuration":
        raise where.error(("kind",), f"must be Configuration, got {doc.get('kind')!r}")
    spec = _mapping(where, doc.get("spec"), ("spec",))
    cfg = RuntimeConfig(source=source, spec=spec, secret_scopes=_secret_scopes(where, spec))

    tracing = _mapping(where, spec.get("tracing"), ("spec", "tracing"))
    if tracing.get("samplingRate") is not None:
        raw = tracing["samplingRate"]
        try:
            rate = float(raw)
        except (TypeError, ValueError):
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise where.error(
                ("spec", "tracing", "samplingRate"), f"must be a number from 0 to 1, got {raw!r}"
            )
        cfg.sampling_rate = rate
    otel = _mapping(where, tracing.get("otel"), ("spec", "tracing", "otel"))
    cfg.otel_endpoint = str(otel.get("endpointAddress") or "")
    protocol = str(otel.get("protocol") or "")
    if protocol and protocol not in ("http", "grpc"):
        raise where.error(
            ("spec", "tracing", "otel", "protocol"), f"must be http or grpc, got {protocol!r}"
        )
    cfg.otel_protocol = protocol
    if otel.get("isSecure") is not None:
        cfg.otel_secure = _bool(where, otel["isSecure"], ("spec", "tracing", "otel", "isSecure"))

    for i, feature in enumerate(_list(where, spec.get("features"), ("spec", "features"))):
        path: tuple[str | int, ...] = ("spec", "features", i)
        feature = _mapping(where, feature, path)
        name = feature.get("name")
        if not isinstance(name, str) or not name:
            raise where.error((*path, "name"), "missing (the feature's name)")
        cfg.features[name] = _bool(where, feature.get("enabled", False), (*path, "enabled"))

    workflow = _mapping(where, spec.get("workflow"), ("spec", "workflow"))
    cfg.max_concurrent_workflows = _positive_int(
        where,
        workflow.get("maxConcurrentWorkflowInvocations"),
        ("spec", "workflow", "maxConcurrentWorkflowInvocations"),
    )
    cfg.max_concurrent_activities = _positive_int(
        where,
        workflow.get("maxConcurrentActivityInvocations"),
        ("spec", "workflow", "maxConcurrentActivityInvocations"),
    )
    return cfg


def load_runtime_config(path: Path | str) -> RuntimeConfig:
    """Read `--config FILE`; raises ComponentError (missing file, bad YAML, bad field)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComponentError(f"--config {file}: cannot read the file: {exc.strerror}") from None
    return parse_runtime_config(text, str(file))
