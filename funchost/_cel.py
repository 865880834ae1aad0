"""CEL syntax check for subscription ``match`` expressions (the sidecar evaluates them)."""

from __future__ import annotations

from functools import lru_cache

EXAMPLE = "match=\"event.type == 'order.created'\""
_HINTS = {
    "=": "compare with '=='",
    "'": "close the string with '",
    '"': 'close the string with "',
}


@lru_cache(maxsize=256)
def check_cel(expr: str) -> str | None:
    """Return None when ``expr`` parses as CEL, else a one-line description of the error."""
    import celpy
    from celpy.celparser import CELParseError

    try:
        celpy.Environment().compile(expr)
    except CELParseError as exc:
        return _describe(expr, exc)
    return None


def _describe(expr: str, exc: Exception) -> str:
    """Where the parser stopped and, when known, the fix; one line."""
    cause = exc.__cause__ or exc.__context__
    column = getattr(exc, "column", None) or getattr(cause, "column", None)
    token = getattr(cause, "token", None)
    char = getattr(cause, "char", None)
    if column is None:
        return f"not a CEL expression: write it like {EXAMPLE}"
    before = expr[: max(0, int(column) - 1)].rstrip()
    after = f" after {before!r}" if before else ""
    if token is not None and getattr(token, "type", "") == "$END":
        what = f"it ends too early, after {expr.strip()!r}: complete it"
    elif char is not None:
        hint = _HINTS.get(char)
        what = f"unexpected {char!r} at column {column}{after}" + (f": {hint}" if hint else "")
    elif token is not None:
        what = f"unexpected {str(token)!r} at column {column}{after}"
    else:
        what = f"syntax error at column {column}{after}"
    return f"{what} (a CEL expression looks like {EXAMPLE})"
