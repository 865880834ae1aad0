"""One Dapr `Component` and one subscription (`SubscriptionDef`) as the sidecar sees them, and
`ComponentError`: a leaf module, so backends import it without importing the resources loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: `bindings.*` types the sidecar implements; any other binding goes to the local outbox.
BINDING_TYPES = frozenset({"bindings.cron", "bindings.localstorage", "bindings.http"})


class ComponentError(Exception):
    """A resource file is malformed or asks for something the embedded sidecar cannot do."""


def yaml_error(source: str, exc: Exception) -> str:
    """One line for a YAML parse error: file:line:column: not valid YAML: the parser's problem."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return f"{where}: not valid YAML: {' '.join(str(detail).split())}"


@dataclass
class Component:
    """One Dapr `Component` (metadata values resolved to strings)."""

    name: str
    type: str
    version: str = "v1"
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = "<built-in>"
    secret_refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    auth_secret_store: str | None = None
    init_timeout: str | None = None

    @property
    def kind(self) -> str:
        """`state`, `pubsub`, `bindings` or `secretstores`."""
        return self.type.split(".", 1)[0]

    @property
    def outbox_only(self) -> bool:
        """A binding type the sidecar does not implement: outputs go to the local outbox."""
        return self.kind == "bindings" and self.type not in BINDING_TYPES

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A metadata value by name (case-insensitive, as daprd reads it)."""
        if key in self.metadata:
            return self.metadata[key]
        low = key.lower()
        for k, v in self.metadata.items():
            if k.lower() == low:
                return v
        return default

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.meta(key)
        return default if value is None else value.strip().lower() in ("true", "1", "yes", "y")


@dataclass
class SubscriptionDef:
    """A declarative or programmatic subscription of this app."""

    pubsubname: str
    topic: str
    route: str = ""
    rules: list[tuple[str, str]] = field(default_factory=list)
    default: str = ""
    dead_letter_topic: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    bulk: dict[str, Any] = field(default_factory=dict)
    source: str = "app"

    @property
    def bulk_enabled(self) -> bool:
        return bool(self.bulk.get("enabled"))

    def to_metadata(self) -> dict[str, Any]:
        """The shape `/v1.0/metadata` lists subscriptions in."""
        return {
            "pubsubname": self.pubsubname,
            "topic": self.topic,
            "deadLetterTopic": self.dead_letter_topic,
            "metadata": self.metadata,
            "rules": [{"match": m, "path": p} for m, p in self.rules]
            + [{"match": "", "path": self.default or self.route}],
            "type": (
                "PROGRAMMATIC"
                if self.source == "app"
                else "STREAMING"
                if self.source == "stream"
                else "DECLARATIVE"
            ),
        }
