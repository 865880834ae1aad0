"""Subscription routing rules: CEL expressions over the CloudEvent (`event`), compiled once.

Rules are tried in order; the first whose `match` is true gives the path; then `default`, then
the v1 `route`. An expression that fails to evaluate (e.g. a missing field) does not match, as in
daprd. Evaluated with cel-python (`celpy`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("funchost.sidecar.routing")


class RuleError(ValueError):
    """A routing rule is not valid CEL."""


_env: Any = None


def _environment() -> Any:
    """The shared CEL environment (celpy is imported on first use: it is heavy)."""
    global _env
    if _env is None:
        import celpy

        _env = celpy.Environment()
    return _env


@dataclass
class CompiledRule:
    """A routing rule: its CEL `match` text, the target `path` and the compiled program."""

    match: str
    path: str
    program: Any


def compile_rule(match: str, path: str) -> CompiledRule:
    """Compile one rule; raises RuleError naming the expression."""
    env = _environment()
    try:
        program = env.program(env.compile(match))
    except Exception as exc:
        raise RuleError(f"routing rule {match!r} (path {path!r}) is not valid CEL: {exc}") from None
    return CompiledRule(match, path, program)


class Router:
    """Routes an event to a path for one subscription."""

    def __init__(self, rules: list[tuple[str, str]], default: str = "", route: str = "") -> None:
        self.rules = [compile_rule(m, p) for m, p in rules if m]
        # A rule with an empty match is the default (the SDK writes the default this way).
        empty = [p for m, p in rules if not m]
        self.default = default or (empty[0] if empty else "") or route

    @property
    def needs_event(self) -> bool:
        """True when routing must look inside the event (there are CEL rules)."""
        return bool(self.rules)

    def route(self, event: dict[str, Any] | None) -> str:
        """The path for `event`, or "" when nothing matches."""
        if self.rules and event is not None:
            import celpy

            activation = {"event": celpy.json_to_cel(event)}
            for rule in self.rules:
                try:
                    result = rule.program.evaluate(activation)
                except Exception as exc:
                    log.debug("rule %r did not evaluate: %s", rule.match, exc)
                    continue
                if isinstance(result, celpy.celtypes.BoolType) and bool(result):
                    return rule.path
        return self.default
