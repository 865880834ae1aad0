"""CEL syntax check for subscription ``match`` expressions (the sidecar evaluates them)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=256)
def check_cel(expr: str) -> str | None:
    """Return None when ``expr`` parses as CEL, else a one-line description of the error."""
    import celpy
    from celpy.celparser import CELParseError

    try:
        celpy.Environment().compile(expr)
    except CELParseError as exc:
        lines = [line.rstrip() for line in str(exc).splitlines() if line.strip()]
        return " | ".join(lines) or "syntax error"
    return None
