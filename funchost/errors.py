"""The host's exceptions: one base (`FunchostError`) and the handler signals `Retry` / `Drop`.

Errors say what went wrong, where (``file:line`` when known) and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DefinitionError",
    "DiscoveryError",
    "Drop",
    "FunchostError",
    "HandlerSignal",
    "RegistryError",
    "Retry",
]


class FunchostError(Exception):
    """Base class of every error raised by the funchost host."""


class DefinitionError(FunchostError, ValueError):
    """A decorator was used with invalid arguments (raised at decoration time).

    ``where`` is ``"path/to/file.py:12"`` when the decorated object's source is known.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


class RegistryError(FunchostError):
    """The collected definitions are inconsistent (duplicate names or routes, ...)."""


class DiscoveryError(FunchostError):
    """A functions folder or a plugin could not be loaded (names the file and line)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = message
        where = f"{file}:{line}" if file and line else file
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(FunchostError):
    """Invalid settings or CLI options."""


class HandlerSignal(FunchostError):
    """Base of the signals a handler raises to steer delivery (`Retry`, `Drop`)."""

    status = "RETRY"

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(reason or self.status.lower())


class Retry(HandlerSignal):
    """Raise from a handler to ask the sidecar to redeliver the event later (RETRY).

    Any other exception has the same effect; `Retry` just says it on purpose and
    is logged without a traceback.
    """

    status = "RETRY"


class Drop(HandlerSignal):
    """Raise from a handler to drop the event (DROP): it goes to the dead-letter topic if set."""

    status = "DROP"
