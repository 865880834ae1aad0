"""Bind a handler's parameters once, at app build time, so each call is a few lookups.

Parameters are filled by name or annotation: ``ctx``/``context`` or ``FunctionContext``
-> the context; ``event``/``cloudevent`` -> the raw CloudEvent dict; ``metadata``/
``headers`` -> the delivery metadata; a starlette ``Request`` -> the request; invoke path
parameters by name; the first other parameter -> the payload, validated against its
annotation (pydantic model, dataclass, ``bytes``, ``str``, ``dict``, ``list[Model]``...).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from funchost.context import FunctionContext
from funchost.errors import DefinitionError, Drop
from funchost.triggers import Definition

__all__ = ["InvalidPayload", "build_handler", "payload_converter"]

Handler = Callable[[FunctionContext], Awaitable[Any]]
_CTX_NAMES = ("ctx", "context")
_EVENT_NAMES = ("event", "cloudevent", "cloud_event")
_META_NAMES = ("metadata", "headers")


class InvalidPayload(Drop):
    """The payload did not validate against the handler's annotation (delivery -> DROP).

    ``errors`` lists the offending fields: ``[{"loc": [...], "msg": ..., "type": ...}]``.
    """

    def __init__(self, reason: str = "", errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.errors = errors or []


def _identity(value: Any) -> Any:
    return value


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    return json.dumps(value)


def payload_converter(annotation: Any) -> Callable[[Any], Any]:
    """A function turning raw data (bytes, str or parsed JSON) into ``annotation``."""
    if annotation in (inspect.Parameter.empty, Any, object, None):
        return _identity
    if annotation is bytes:
        return _to_bytes
    if annotation is str:
        return _to_str
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def convert(value: Any) -> Any:
        try:
            if isinstance(value, bytes | str):
                try:
                    return adapter.validate_json(value)
                except ValidationError:
                    if isinstance(value, str):
                        return adapter.validate_python(value)
                    raise
            return adapter.validate_python(value)
        except ValidationError as exc:
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ]
            raise InvalidPayload(
                f"payload does not match {_type_name(annotation)}: "
                + "; ".join(_describe(e) for e in errors),
                errors,
            ) from exc

    return convert


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return {}


def list_item_type(annotation: Any) -> Any:
    """``X`` for ``list[X]`` / ``Sequence[X]``, else None (used by bulk subscriptions)."""
    import collections.abc

    origin = typing.get_origin(annotation)
    if origin in (list, tuple, collections.abc.Sequence):
        args = typing.get_args(annotation)
        return args[0] if args else Any
    return None


def payload_annotation(fn: Callable[..., Any], path_params: tuple[str, ...] = ()) -> Any:
    """The annotation of the payload parameter (``inspect.Parameter.empty`` when untyped;
    None when the function takes no payload)."""
    for name, param, kind in _plan(fn, path_params):
        if kind == "payload":
            return _hints(fn).get(name, param.annotation)
    return None


def _plan(fn: Callable[..., Any], path_params: tuple[str, ...]) -> list[tuple[str, Any, str]]:
    hints = _hints(fn)
    plan: list[tuple[str, Any, str]] = []
    have_payload = False
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        ann = hints.get(name, param.annotation)
        if name in _CTX_NAMES or (isinstance(ann, type) and issubclass(ann, FunctionContext)):
            kind = "ctx"
        elif isinstance(ann, type) and issubclass(ann, Request):
            kind = "request"
        elif name in path_params:
            kind = "path"
        elif name in _EVENT_NAMES:
            kind = "event"
        elif name in _META_NAMES:
            kind = "metadata"
        elif not have_payload:
            kind, have_payload = "payload", True
        elif param.default is not param.empty:
            continue
        else:
            raise DefinitionError(
                f"cannot fill parameter '{name}' of {fn.__qualname__}(): a handler takes one "
                "payload plus optional ctx, event, metadata, request and path parameters"
            )
        plan.append((name, param, kind))
    return plan


def build_handler(
    definition: Definition,
    *,
    path_params: tuple[str, ...] = (),
    convert: Callable[[Any], Any] | None = None,
) -> Handler:
    """An ``async (ctx) -> result`` calling ``definition.target`` with its parameters filled.

    The payload comes from ``ctx.data`` through ``convert`` (default: from the annotation);
    sync functions run in the thread pool.
    """
    fn = definition.target
    try:
        plan = _plan(fn, path_params)
    except DefinitionError as exc:
        raise DefinitionError(exc.reason, definition.where) from exc
    hints = _hints(fn)
    getters: list[tuple[str, bool, Callable[[FunctionContext], Any]]] = []
    for name, param, kind in plan:
        positional = param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
        if kind == "ctx":
            getter: Callable[[FunctionContext], Any] = _identity
        elif kind == "request":
            getter = _get_request
        elif kind == "event":
            getter = _get_event
        elif kind == "metadata":
            getter = _get_metadata
        elif kind == "path":
            getter = _path_getter(name, hints.get(name, param.annotation))
        else:
            conv = convert or payload_converter(hints.get(name, param.annotation))
            getter = _payload_getter(conv)
        getters.append((name, positional, getter))

    is_async = inspect.iscoroutinefunction(fn)
    all_positional = all(pos for _, pos, _ in getters)
    if all_positional and len(getters) == 1:
        only = getters[0][2]
        if is_async:

            async def call1(ctx: FunctionContext) -> Any:
                return await fn(only(ctx))

            return call1

        async def call1_sync(ctx: FunctionContext) -> Any:
            return await run_in_threadpool(fn, only(ctx))

        return call1_sync

    async def call(ctx: FunctionContext) -> Any:
        args = []
        kwargs = {}
        for name, positional, get in getters:
            if positional:
                args.append(get(ctx))
            else:
                kwargs[name] = get(ctx)
        if is_async:
            return await fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    return call


def _get_request(ctx: FunctionContext) -> Any:
    return ctx.request


def _get_event(ctx: FunctionContext) -> Any:
    return ctx.event


def _get_metadata(ctx: FunctionContext) -> Any:
    return ctx.metadata


def _path_getter(name: str, annotation: Any) -> Callable[[FunctionContext], Any]:
    if annotation in (inspect.Parameter.empty, str, Any):

        def get(ctx: FunctionContext) -> Any:
            return ctx.path_params.get(name)

        return get
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def get_typed(ctx: FunctionContext) -> Any:
        try:
            return adapter.validate_python(ctx.path_params.get(name))
        except ValidationError as exc:
            raise InvalidPayload(f"path parameter '{name}': {exc}") from exc

    return get_typed


def _payload_getter(conv: Callable[[Any], Any]) -> Callable[[FunctionContext], Any]:
    if conv is _identity:
        return _get_data

    def get(ctx: FunctionContext) -> Any:
        return conv(ctx.data)

    return get


def _get_data(ctx: FunctionContext) -> Any:
    return ctx.data


def wrap(definition: Definition, handler: Handler, pm: Any) -> Handler:
    """Apply every plugin's ``funchost_wrap_handler`` to ``handler``."""
    if pm is None:
        return handler
    for impl in reversed(pm.hook.funchost_wrap_handler.get_hookimpls()):
        given = {"definition": definition, "handler": handler}
        wrapped = impl.function(**{k: given[k] for k in impl.argnames})
        if wrapped is not None:
            handler = wrapped
    return handler
