"""What every configuration store offers the Configuration API: get, subscribe, unsubscribe.

A store generates its subscription ids (a random UUID, as components-contrib does) and calls
`notify(subscription_id, items)` on the sidecar's event loop for every change it sees; the
subsystem fans that out to the subscriber (gRPC stream or HTTP app callback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ConfigItem:
    """One configuration item (components-contrib `configuration.Item`)."""

    value: str = ""
    version: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """daprd's JSON: `value`, `version`, `metadata`, each left out when empty (omitempty)."""
        out: dict[str, Any] = {}
        if self.value:
            out["value"] = self.value
        if self.version:
            out["version"] = self.version
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


#: `notify(subscription_id, {key: item})`: a change seen by a store, for one subscription.
Notify = Callable[[str, dict[str, ConfigItem]], None]


class ConfigurationStoreError(Exception):
    """A store could not answer (unreachable server, bad table...); the message says the fix."""


class ConfigurationStore(Protocol):
    """A configuration store backend (one module per component type)."""

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigItem]:
        """Items for `keys` (every item when `keys` is empty); missing keys are left out."""
        ...

    async def subscribe(self, keys: list[str], metadata: dict[str, str], notify: Notify) -> str:
        """Start watching `keys` (all when empty); return the new subscription id."""
        ...

    async def unsubscribe(self, subscription_id: str) -> bool:
        """Stop a subscription; False when the id is unknown."""
        ...

    async def close(self) -> None:
        """Stop every subscription and release connections."""
        ...
