"""The host's actor serializer: JSON in, the same JSON out (no guessing at dates or durations).

The SDK's `DefaultJSONSerializer` turns any string that looks like a date or a Go duration
("2024-01-01 standup", "1h") into a datetime/timedelta on the way in, which mangles user text.
`FunchostJSONSerializer` serializes what actor code naturally returns (pydantic models,
dataclasses, datetimes, timedeltas as Dapr durations, enums, bytes as base64) and deserializes
plain JSON verbatim. Two typed cases on the way in:

- a method parameter / proxy return annotated with a pydantic model or dataclass (or a union
  with one, `Task | None`) is validated into it (annotations must be real classes: no
  `from __future__ import annotations` in the interface's module);
- a reminder callback body (`{"data", "dueTime", "period", "ttl"?}`, the only body the SDK
  decodes with `ActorReminderData.from_dict`) gets its `dueTime`/`period`/`ttl` as timedelta,
  as the SDK's `Remindable.receive_reminder` contract promises.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import enum
import json
import typing
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

from dapr.serializers import Serializer
from dapr.serializers.util import convert_from_dapr_duration, convert_to_dapr_duration

__all__ = ["FunchostJSONSerializer"]

_REMINDER_KEYS = frozenset({"data", "dueTime", "period", "ttl"})


def _default(obj: Any) -> Any:
    """JSON for what `json` does not know."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):  # pydantic v2 model
        return dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, dt.datetime):
        text = obj.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(obj, dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return convert_to_dapr_duration(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, UUID | Decimal):
        return str(obj)
    raise TypeError(
        f"actor message or state of type {type(obj).__name__} is not JSON serializable: return "
        "a dict, a pydantic model or a dataclass (or pass serializer=... to @actor)"
    )


def _typed(data_type: Any) -> bool:
    """A pydantic model or dataclass, or a union / container naming one (`Task | None`)."""
    if isinstance(data_type, type):
        return callable(getattr(data_type, "model_validate", None)) or (
            dataclasses.is_dataclass(data_type)
        )
    return any(_typed(arg) for arg in typing.get_args(data_type))


@lru_cache(maxsize=256)
def _validator(data_type: Any) -> Callable[[Any], Any] | None:
    """How to build ``data_type`` from plain JSON, or None to keep the JSON as is."""
    if not _typed(data_type):
        return None  # str, dict, int...: the JSON value is already what the code gets
    validate = getattr(data_type, "model_validate", None)
    if callable(validate):
        return validate  # type: ignore[no-any-return]
    from pydantic import TypeAdapter

    return TypeAdapter(data_type).validate_python


def _is_reminder_body(obj: Any) -> typing.TypeGuard[dict[str, Any]]:
    return (
        isinstance(obj, dict)
        and "dueTime" in obj
        and obj.keys() <= _REMINDER_KEYS
        and isinstance(obj.get("data"), str | None)
        and all(isinstance(obj.get(k), str | None) for k in ("dueTime", "period", "ttl"))
    )


def _reminder_times(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for key in ("dueTime", "period", "ttl"):
        value = out.get(key)
        if isinstance(value, str) and value:
            # an ISO or RFC 3339 form stays as daprd sent it
            with contextlib.suppress(ValueError, AttributeError):
                out[key] = convert_from_dapr_duration(value)
    return out


class FunchostJSONSerializer(Serializer):
    """The default actor message and state serializer of `@actor` and `actor_proxy`."""

    def serialize(self, obj: object, custom_hook: Callable[[object], bytes] | None = None) -> bytes:
        if callable(custom_hook):
            obj = custom_hook(obj)
        else:
            as_dict = getattr(obj, "as_dict", None)  # ActorRuntimeConfig and friends
            if callable(as_dict) and type(obj).__module__.startswith("dapr."):
                obj = as_dict()
        return json.dumps(obj, default=_default, separators=(",", ":"), ensure_ascii=False).encode()

    def deserialize(
        self,
        data: bytes,
        data_type: type | None = object,
        custom_hook: Callable[[bytes], object] | None = None,
    ) -> Any:
        if not isinstance(data, str | bytes | bytearray):
            raise ValueError("data must be str or bytes")
        obj = json.loads(data) if data else None
        if callable(custom_hook):
            return custom_hook(obj)  # type: ignore[arg-type]
        if data_type is object or data_type is None or isinstance(data_type, str):
            if data_type is object and _is_reminder_body(obj):
                return _reminder_times(obj)
            return obj  # untyped (or a string annotation): the JSON as is
        try:
            validate = _validator(data_type)
        except TypeError:  # unhashable or odd annotation
            return obj
        if validate is None or obj is None:
            return obj
        return validate(obj)
