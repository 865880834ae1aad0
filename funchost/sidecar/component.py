"""One Dapr `Component` as the sidecar sees it, and `ComponentError` (a leaf module: backends
import it without importing the resources loader)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: `bindings.*` types the sidecar implements; any other binding goes to the local outbox.
BINDING_TYPES = frozenset({"bindings.cron", "bindings.localstorage", "bindings.http"})


class ComponentError(Exception):
    """A resource file is malformed or asks for something the embedded sidecar cannot do."""


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
