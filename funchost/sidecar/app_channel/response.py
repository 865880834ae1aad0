"""What the app answered (`AppResponse`) and why it could not answer (`AppUnavailable`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AppResponse:
    """What the app answered: status, headers and the raw body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        import json

        return json.loads(self.body) if self.body else None


class AppUnavailable(Exception):
    """The app could not be reached (connection refused, reset, timed out)."""
