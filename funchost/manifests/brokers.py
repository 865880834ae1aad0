"""What KEDA needs to read a topic's backlog, derived from the pub/sub Component YAML.

`pubsub.redis` -> a ``redis-streams`` trigger (stream = topic, consumer group = the component's
``consumerID`` or the app id, password from the ``redisPassword`` secretKeyRef);
`pubsub.kafka` -> a ``kafka`` trigger (``brokers``, consumer group = ``consumerGroup`` /
``consumerID`` or the app id, SASL user/password from their secretKeyRefs, the SASL mode from
``saslMechanism``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from funchost.errors import ConfigError

SUPPORTED = {"pubsub.redis": "redis", "pubsub.kafka": "kafka"}
# Dapr's saslMechanism values -> KEDA's sasl modes.
_SASL = {
    "SHA-512": "scram_sha512",
    "SHA-256": "scram_sha256",
    "SCRAM-SHA-512": "scram_sha512",
    "SCRAM-SHA-256": "scram_sha256",
    "PLAINTEXT": "plaintext",
    "PLAIN": "plaintext",
}


@dataclass(frozen=True)
class Broker:
    """A pub/sub component as KEDA sees it."""

    kind: str
    address: str
    refs: tuple[tuple[str, str, str], ...] = ()
    """(KEDA auth parameter, Kubernetes secret name, key in the secret)."""
    metadata: tuple[tuple[str, str], ...] = ()
    """Extra trigger metadata, e.g. ("sasl", "scram_sha512")."""
    consumer_group: str | None = None
    """The component's explicit consumer group; None = the app id (Dapr's default)."""


def _items(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m.get("name", ""): m for m in (doc.get("spec") or {}).get("metadata") or []}


def _value(items: dict[str, dict[str, Any]], name: str) -> str | None:
    value = items.get(name, {}).get("value")
    return None if value is None else str(value)


def _ref(items: dict[str, dict[str, Any]], name: str, param: str) -> list[tuple[str, str, str]]:
    ref = items.get(name, {}).get("secretKeyRef")
    if not ref:
        return []
    return [(param, str(ref["name"]), str(ref.get("key") or ref["name"]))]


def broker_of_component(doc: dict[str, Any], where: str) -> Broker:
    """The `Broker` of one pub/sub Component document."""
    kind = SUPPORTED.get((doc.get("spec") or {}).get("type", ""))
    name = (doc.get("metadata") or {}).get("name")
    if kind is None:
        raise ConfigError(
            f"{where}: pub/sub component {name!r} has type {doc['spec'].get('type')!r}: KEDA "
            f"triggers are derived for {', '.join(SUPPORTED)} only; use --no-keda or "
            f"--pubsub {name}=redis|kafka"
        )
    items = _items(doc)
    if kind == "redis":
        address = _value(items, "redisHost")
        refs = _ref(items, "redisUsername", "username") + _ref(items, "redisPassword", "password")
        meta = [("enableTLS", "true")] if _value(items, "enableTLS") == "true" else []
        group = _value(items, "consumerID")
    else:
        address = _value(items, "brokers")
        refs = _ref(items, "saslUsername", "username") + _ref(items, "saslPassword", "password")
        mechanism = (_value(items, "saslMechanism") or "PLAIN").upper()
        meta = [("sasl", _SASL.get(mechanism, "plaintext"))] if refs else []
        group = _value(items, "consumerGroup") or _value(items, "consumerID")
    if not address:
        field = "redisHost" if kind == "redis" else "brokers"
        raise ConfigError(f"{where}: pub/sub component {name!r} has no plain '{field}' value")
    return Broker(kind, address, tuple(refs), tuple(meta), group)


def brokers_from_components(paths: Iterable[Path]) -> dict[str, Broker]:
    """pub/sub component name -> `Broker`, from the Component YAML files under `paths`."""
    found: dict[str, Broker] = {}
    for folder in paths:
        if not folder.exists():
            raise ConfigError(f"--components {folder}: no such file or folder")
        files = [folder] if folder.is_file() else sorted(folder.rglob("*.y*ml"))
        for file in files:
            try:
                docs = [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
            except yaml.YAMLError as exc:
                raise ConfigError(f"{file}: invalid YAML: {exc}") from exc
            for doc in docs:
                spec_type = str((doc.get("spec") or {}).get("type", ""))
                if doc.get("kind") == "Component" and spec_type.startswith("pubsub."):
                    found[doc["metadata"]["name"]] = broker_of_component(doc, str(file))
    return found
