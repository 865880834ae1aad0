"""Virtual actors for the embedded sidecar (daprd's actor runtime, single host, no placement)."""

from .config import ActorsConfig, TypeConfig, parse_config
from .state import ActorStateStore, SqliteActorState
from .subsystem import ActorsSubsystem

__all__ = [
    "ActorStateStore",
    "ActorsConfig",
    "ActorsSubsystem",
    "SqliteActorState",
    "TypeConfig",
    "parse_config",
]
