"""Virtual actors for the embedded sidecar (daprd's actor runtime, single host, no placement)."""

from .config import ActorsConfig, TypeConfig, parse_config
from .durations import (
    DurationError,
    Period,
    parse_due_time,
    parse_go_duration,
    parse_period,
    parse_ttl,
)
from .state import ActorStateStore, SqliteActorState
from .subsystem import ActorsSubsystem

__all__ = [
    "ActorStateStore",
    "ActorsConfig",
    "ActorsSubsystem",
    "DurationError",
    "Period",
    "SqliteActorState",
    "TypeConfig",
    "parse_config",
    "parse_due_time",
    "parse_go_duration",
    "parse_period",
    "parse_ttl",
]
