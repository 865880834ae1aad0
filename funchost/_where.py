"""Find the user's file:line in an exception (import errors, syntax errors)."""

from __future__ import annotations

import traceback
from pathlib import Path


def error_location(exc: BaseException, root: Path | None = None) -> tuple[str | None, int | None]:
    """The deepest ``(file, line)`` of ``exc`` inside ``root`` (any file when root is None).

    Syntax errors report their own file and line; `DefinitionError` its decorated object.
    """
    where = getattr(exc, "where", None)
    if isinstance(where, str) and ":" in where:
        file, _, line = where.rpartition(":")
        if line.isdigit() and file != "<unknown>":
            return file, int(line)
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    best: tuple[str | None, int | None] = (None, None)
    resolved = root.resolve() if root else None
    for frame in frames:
        if frame.filename.startswith("<"):
            continue
        if resolved is not None:
            try:
                Path(frame.filename).resolve().relative_to(resolved)
            except ValueError:
                continue
        elif "importlib" in frame.filename:
            continue
        best = (frame.filename, frame.lineno)
    return best
