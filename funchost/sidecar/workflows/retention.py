"""How long finished workflow instances are kept: Dapr's `spec.workflow.stateRetentionPolicy`.

Fields `anyTerminal`, `completed`, `failed`, `terminated` are durations after the instance
reached that state; a specific state overrides `anyTerminal`; `"0s"` purges at once. daprd keeps
history forever when the policy is unset; the embedded sidecar defaults to
``FUNCHOST_WORKFLOW_RETENTION`` = 168h (7 days: long enough to inspect last week's runs, short
enough that a busy local database stays bounded); ``off`` keeps history forever, as daprd does.
A Configuration's policy replaces the default. The sweep reads the durable `completed` column,
so it resumes after a restart and also purges instances that finished before it was set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..timeformats import DurationError, parse_duration
from ._pb import COMPLETED, FAILED, TERMINATED

DEFAULT = "168h"
ENV = "FUNCHOST_WORKFLOW_RETENTION"
_OFF = {"", "off", "none", "forever", "never"}
_FIELDS = {"completed": COMPLETED, "failed": FAILED, "terminated": TERMINATED}


@dataclass(frozen=True)
class RetentionPolicy:
    """Seconds to keep an instance after each terminal status (absent: forever)."""

    ttl: Mapping[int, float]

    @property
    def enabled(self) -> bool:
        return bool(self.ttl)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> RetentionPolicy:
        """From a Configuration's `spec.workflow.stateRetentionPolicy` mapping."""
        spec = spec or {}
        ttl: dict[int, float] = {}
        for key in ("anyTerminal", *_FIELDS):
            value = spec.get(key)
            if value is None:
                continue
            try:
                seconds = max(0.0, parse_duration(value))
            except DurationError as exc:
                raise ValueError(
                    f"spec.workflow.stateRetentionPolicy.{key}: {exc} (e.g. '72h')"
                ) from None
            for name, status in _FIELDS.items():
                if key == name or (key == "anyTerminal" and name not in spec):
                    ttl[status] = seconds
        return cls(ttl)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RetentionPolicy:
        """``FUNCHOST_WORKFLOW_RETENTION`` (a duration for every terminal status, or off)."""
        value = environ.get(ENV, DEFAULT).strip()
        if value.lower() in _OFF:
            return cls({})
        try:
            return cls.from_spec({"anyTerminal": value})
        except ValueError:
            raise ValueError(
                f"{ENV}={value!r} is not a duration: use e.g. '168h', '30m' or 'off'"
            ) from None
