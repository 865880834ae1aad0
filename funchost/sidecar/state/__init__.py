"""The state building block: the backend interface, its backends, and (subsystem.py) the API.

`StateSubsystem` lives in `subsystem.py` (it needs the resources loader, which needs this
package's registry).
"""

from .backend import (
    FIRST_WRITE,
    LAST_WRITE,
    BackendContext,
    EtagInvalid,
    EtagMismatch,
    StateBackend,
    StateItem,
    StoredValue,
    ttl_from_metadata,
)
from .registry import STATE_BACKENDS

__all__ = [
    "FIRST_WRITE",
    "LAST_WRITE",
    "STATE_BACKENDS",
    "BackendContext",
    "EtagInvalid",
    "EtagMismatch",
    "StateBackend",
    "StateItem",
    "StoredValue",
    "ttl_from_metadata",
]
