"""Structured logging: JSON lines in containers, readable colour in a terminal.

Every record emitted while an invocation runs carries its function name, trigger kind, event /
instance / actor id, attempt and trace id (from `scope.current()`), whatever logger emitted it.
`configure_logging()` installs one handler on the root logger; it is idempotent.

Format: `FUNCHOST_LOG_FORMAT=json|text|auto` (auto: JSON unless stderr is a terminal);
level: `FUNCHOST_LOG_LEVEL` (default INFO).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from .scope import current

__all__ = ["ContextFilter", "JsonFormatter", "TextFormatter", "configure_logging", "resolve_format"]

_HANDLER_MARK = "_funchost_handler"
_CHATTY_LOGGERS = (
    "httpx",
    "httpcore",
    "WorkflowRuntime",
    "durabletask-worker",
    "durabletask-client",
)
# Attributes every LogRecord has; anything else passed with `extra=` is emitted as a field.
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "funchost",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


class ContextFilter(logging.Filter):
    """Attach the running invocation's fields to each record as `record.funchost` (a dict)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "funchost"):
            inv = current()
            record.funchost = inv.log_fields() if inv is not None else {}
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, invocation fields, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(getattr(record, "funchost", None) or {})
        for key, value in _extras(record).items():
            doc.setdefault(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            doc["exc_type"] = record.exc_info[0].__name__
            doc["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, default=str, ensure_ascii=False)


def _context_suffix(fields: dict[str, Any]) -> str:
    parts = []
    for key in ("function", "trigger", "event_id", "instance_id", "actor_id"):
        if key in fields:
            parts.append(f"{key}={fields[key]}")
    if fields.get("attempt", 1) != 1:
        parts.append(f"attempt={fields['attempt']}")
    if "trace_id" in fields:
        parts.append(f"trace={fields['trace_id'][:16]}")
    return " ".join(parts)


class TextFormatter(logging.Formatter):
    """Plain human-readable lines with the invocation fields appended (used without rich)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        suffix = _context_suffix(getattr(record, "funchost", None) or {})
        if suffix:
            line += f"  [{suffix}]"
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return line


class _RichContextFormatter(logging.Formatter):
    """Message plus the context suffix, for rich's handler (it draws time and level)."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        suffix = _context_suffix(getattr(record, "funchost", None) or {})
        return f"{msg}  [{suffix}]" if suffix else msg


def resolve_format(fmt: str | None = None, stream: IO[str] | None = None) -> str:
    """`json` or `text`: explicit value, else FUNCHOST_LOG_FORMAT, else by terminal detection."""
    value = (fmt or os.environ.get("FUNCHOST_LOG_FORMAT") or "auto").strip().lower()
    if value in ("json", "text"):
        return value
    if value != "auto":
        raise ValueError(
            f"FUNCHOST_LOG_FORMAT={value!r} is not a log format: use json, text or auto"
        )
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def configure_logging(
    fmt: str | None = None,
    level: str | int | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install funchost's handler on the root logger (replacing a previous one); return it."""
    stream = stream or sys.stderr
    chosen = resolve_format(fmt, stream)
    lvl = level if level is not None else os.environ.get("FUNCHOST_LOG_LEVEL", "INFO")
    handler: logging.Handler
    if chosen == "json":
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
    else:
        try:
            from rich.console import Console
            from rich.logging import RichHandler

            handler = RichHandler(
                console=Console(file=stream, stderr=stream is sys.stderr),
                markup=False,
                rich_tracebacks=True,
                show_path=False,
                log_time_format="%H:%M:%S",
            )
            handler.setFormatter(_RichContextFormatter())
        except ImportError:  # pragma: no cover - rich is a core dependency
            handler = logging.StreamHandler(stream)
            handler.setFormatter(TextFormatter())
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl if isinstance(lvl, int) else str(lvl).upper())
    if root.level > logging.DEBUG:
        # Per-request and per-turn chatter of the HTTP clients and the workflow SDK: their
        # warnings and errors still come through; FUNCHOST_LOG_LEVEL=debug shows everything.
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    return handler
