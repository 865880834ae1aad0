"""Trigger decorators: each attaches a frozen definition and returns the object unchanged.

Every decorated object carries ``obj.__funchost__``: a tuple of definitions (stacking
decorators appends). Definitions are plain frozen dataclasses whose field names are a stable
contract (the manifests renderer and the wiring read them):

=============  ==============================================================================
kind           fields (besides ``name``, ``target``, ``module``, ``qualname``, ``file``, ``line``)
=============  ==============================================================================
``topic``      ``pubsub``, ``topic``, ``route``, ``match``, ``rules`` (tuple of `Rule`),
               ``dead_letter_topic``, ``metadata`` (str->str), ``bulk``,
               ``bulk_max_messages``, ``bulk_max_await_ms``
``binding``    ``binding`` (component name), ``route`` (``/<binding>``)
``cron``       ``schedule`` (as written), ``job_schedule`` (Dapr Jobs / bindings.cron form),
               ``per_replica``, ``route`` (``/job/<name>``, or ``/<name>`` when per-replica)
``invoke``     ``method`` (``tasks/{id}``), ``methods`` (upper-case verbs), ``route``
``config``     ``store`` (configuration store component), ``keys`` (watched keys; empty = all)
``actor``      ``actor_type``, ``idle_timeout``, ``scan_interval``, ``drain_timeout``
               (timedelta or None), ``reentrancy``, ``max_stack_depth``
``workflow``   (the name is the registered workflow name)
``activity``   (the name is the registered activity name)
=============  ==============================================================================

Each definition class also carries its kind's facts as class attributes (``kind``, ``wiring``,
``unit``, ``unit_whole``, ``http``, ``retried``, ``public_api``) and methods (``routes()``,
``unit_group``, ``every_unit``): the registry, scale units, ``funchost list``, the manifests and
observability read them, so a new kind is its definition class + decorator, its wiring module
(named by ``wiring``) and its tests. `kinds()` lists the kinds in declaration order.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, overload

from funchost.errors import DefinitionError
from funchost.timeformats import normalize_schedule, parse_duration

__all__ = [
    "ActivityDef",
    "ActorDef",
    "BindingDef",
    "ConfigDef",
    "CronDef",
    "Definition",
    "InvokeDef",
    "Rule",
    "TopicDef",
    "WorkflowDef",
    "activity",
    "actor",
    "binding",
    "config_change",
    "cron",
    "definitions_of",
    "invoke",
    "kinds",
    "topic",
    "workflow",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T", bound=type)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ROUTE = re.compile(r"^/[A-Za-z0-9._~\-/{}]*$")
_VERBS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
ATTR = "__funchost__"
_KINDS: dict[str, type[Definition]] = {}

#: A route the sidecar calls on the app: (path, HTTP methods or None for any).
Route = tuple[str, tuple[str, ...] | None]


@dataclass(frozen=True, kw_only=True)
class Definition:
    """What every definition has: a unique ``name`` per kind and where it was declared.

    The class attributes are the kind's facts; a subclass with a ``kind`` is a trigger kind.
    """

    #: The kind's name (``funchost list``, ``FUNCHOST_ENABLE``, metrics and traces).
    kind: ClassVar[str] = ""
    #: The built-in scale unit serving this kind (``FUNCHOST_ENABLE``, ``--units``).
    unit: ClassVar[str] = ""
    #: Enabling the kind (or one of its definitions) enables its whole unit (one shared runtime).
    unit_whole: ClassVar[bool] = False
    #: The sidecar delivers each call as an HTTP request on `routes()`; observed per call.
    http: ClassVar[bool] = False
    #: A failed delivery is retried by the sidecar (observed outcome "retry", not "error").
    retried: ClassVar[bool] = False
    #: Serves the app's own HTTP API (the unit backs the Kubernetes Service).
    public_api: ClassVar[bool] = False
    #: The plugin modules wiring this kind into the app (registered as built-in plugins).
    wiring: ClassVar[tuple[str, ...]] = ()

    name: str
    target: Any = field(compare=False, repr=False)
    module: str
    qualname: str
    file: str
    line: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _KINDS[cls.kind] = cls

    def routes(self) -> tuple[Route, ...]:
        """The app routes the sidecar calls for this definition (none when not `http`)."""
        route = getattr(self, "route", None)
        return ((route, ("POST",)),) if self.http and route else ()

    @property
    def unit_group(self) -> Hashable | None:
        """Definitions sharing a group are served together by a scale unit (None: alone)."""
        return (self.unit,) if self.unit_whole else None

    @property
    def every_unit(self) -> bool:
        """True when every scale unit serves this definition."""
        return False

    @property
    def where(self) -> str:
        """``file:line`` of the decorated object."""
        return f"{self.file}:{self.line}"

    @property
    def trigger(self) -> str:
        """A one-line human description of the trigger (used by ``funchost list``)."""
        return self.name

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (served at ``GET /functions``)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "trigger": self.trigger,
            "module": self.module,
            "qualname": self.qualname,
            "file": self.file,
            "line": self.line,
        }


@dataclass(frozen=True)
class Rule:
    """One routing rule of a subscription: a CEL ``match`` expression and the route ``path``."""

    match: str
    path: str


@dataclass(frozen=True, kw_only=True)
class TopicDef(Definition):
    """``@topic``: a programmatic pub/sub subscription."""

    kind: ClassVar[str] = "topic"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.pubsub",)
    unit: ClassVar[str] = "workers"
    http: ClassVar[bool] = True
    retried: ClassVar[bool] = True
    pubsub: str
    topic: str
    route: str
    match: str | None = None
    rules: tuple[Rule, ...] = ()
    dead_letter_topic: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bulk: bool = False
    bulk_max_messages: int = 100
    bulk_max_await_ms: int = 1000

    @property
    def trigger(self) -> str:
        text = f"{self.pubsub}/{self.topic}"
        if self.match:
            text += f" if {self.match}"
        if self.dead_letter_topic:
            text += f" (dlq {self.dead_letter_topic})"
        return text + (" [bulk]" if self.bulk else "")

    def routes(self) -> tuple[Route, ...]:
        """The default route and every rule's path."""
        return tuple((path, ("POST",)) for path in (self.route, *(r.path for r in self.rules)))

    @property
    def unit_group(self) -> Hashable:
        """One topic's subscribers: a unit serving one serves all (one subscription)."""
        return ("topic", self.pubsub, self.topic)


@dataclass(frozen=True, kw_only=True)
class BindingDef(Definition):
    """``@binding``: an input binding component delivering to ``route``."""

    kind: ClassVar[str] = "binding"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.bindings",)
    unit: ClassVar[str] = "workers"
    http: ClassVar[bool] = True
    retried: ClassVar[bool] = True
    binding: str
    route: str

    @property
    def trigger(self) -> str:
        return f"binding {self.binding}"


@dataclass(frozen=True, kw_only=True)
class CronDef(Definition):
    """``@cron``: a Dapr job (once per tick cluster-wide) or a per-replica ``bindings.cron``."""

    kind: ClassVar[str] = "cron"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.jobs", "funchost.wiring.bindings")
    unit: ClassVar[str] = "workers"
    http: ClassVar[bool] = True
    schedule: str
    job_schedule: str
    per_replica: bool = False
    route: str

    @property
    def trigger(self) -> str:
        return f"{self.schedule}" + (" (per replica)" if self.per_replica else "")

    @property
    def every_unit(self) -> bool:
        """A Dapr-job cron: every unit serves it (the job fires once per tick cluster-wide)."""
        return not self.per_replica


@dataclass(frozen=True, kw_only=True)
class InvokeDef(Definition):
    """``@invoke``: a service-invocation / HTTP method with optional ``{path}`` params."""

    kind: ClassVar[str] = "invoke"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.invoke",)
    unit: ClassVar[str] = "api"
    http: ClassVar[bool] = True
    public_api: ClassVar[bool] = True
    method: str
    methods: tuple[str, ...] = ("POST",)
    route: str

    @property
    def trigger(self) -> str:
        return f"{','.join(self.methods)} /{self.method}"

    def routes(self) -> tuple[Route, ...]:
        """The method's route, for its verbs."""
        return ((self.route, self.methods),)


@dataclass(frozen=True, kw_only=True)
class ConfigDef(Definition):
    """``@config_change``: runs when watched keys of a configuration store change.

    Wired through one Dapr configuration subscription per store, made at app start-up; the
    sidecar calls ``POST /configuration/<store>/<key>`` for each change (every replica).
    """

    kind: ClassVar[str] = "config"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.configuration",)
    unit: ClassVar[str] = "workers"
    http: ClassVar[bool] = True
    retried: ClassVar[bool] = True
    store: str
    keys: tuple[str, ...] = ()

    @property
    def trigger(self) -> str:
        return f"config {self.store}: {', '.join(self.keys) if self.keys else '* (every key)'}"

    def routes(self) -> tuple[Route, ...]:
        """daprd's change callback, one route per store (shared by its watchers)."""
        return ((f"/configuration/{self.store}/{{key}}", ("POST",)),)


@dataclass(frozen=True, kw_only=True)
class ActorDef(Definition):
    """``@actor``: a `dapr.actor.Actor` subclass registered with the actor runtime."""

    kind: ClassVar[str] = "actor"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.actors",)
    unit: ClassVar[str] = "actors"
    actor_type: str
    idle_timeout: timedelta | None = None
    scan_interval: timedelta | None = None
    drain_timeout: timedelta | None = None
    reentrancy: bool = False
    max_stack_depth: int = 32
    serializer: Any = None  # a dapr.serializers.Serializer; None = the host's JSON serializer

    @property
    def trigger(self) -> str:
        extra = [f"idle {self.idle_timeout}"] if self.idle_timeout else []
        if self.reentrancy:
            extra.append("reentrant")
        return f"actor {self.actor_type}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass(frozen=True, kw_only=True)
class WorkflowDef(Definition):
    """``@workflow``: a generator orchestrator for the Dapr workflow runtime."""

    kind: ClassVar[str] = "workflow"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.workflows",)
    unit: ClassVar[str] = "workflows"
    unit_whole: ClassVar[bool] = True

    @property
    def trigger(self) -> str:
        return f"workflow {self.name}"


@dataclass(frozen=True, kw_only=True)
class ActivityDef(Definition):
    """``@activity``: a workflow activity (sync or async)."""

    kind: ClassVar[str] = "activity"
    wiring: ClassVar[tuple[str, ...]] = ("funchost.wiring.workflows",)
    unit: ClassVar[str] = "workflows"
    unit_whole: ClassVar[bool] = True

    @property
    def trigger(self) -> str:
        return f"activity {self.name}"


def kinds() -> dict[str, type[Definition]]:
    """Every trigger kind -> its definition class, in declaration order."""
    return dict(_KINDS)


def definitions_of(obj: object) -> tuple[Definition, ...]:
    """The definitions attached to ``obj`` (empty when it is not decorated)."""
    value = getattr(obj, ATTR, ())
    return value if isinstance(value, tuple) else ()


def _location(obj: Any) -> tuple[str, str, str, int]:
    target = inspect.unwrap(obj) if callable(obj) else obj
    module = getattr(target, "__module__", "") or ""
    qualname = getattr(target, "__qualname__", repr(target))
    try:
        file = inspect.getsourcefile(target) or "<unknown>"
    except (OSError, TypeError):
        file = "<unknown>"
    line = 0
    code = getattr(target, "__code__", None)
    if code is not None:
        line = code.co_firstlineno
    else:
        try:
            line = inspect.getsourcelines(target)[1]
        except (OSError, TypeError):
            line = 0
    return module, qualname, file, line


def _where(obj: Any) -> str:
    _, _, file, line = _location(obj)
    return f"{file}:{line}"


def _caller(depth: int = 2) -> str | None:
    """``file:line`` of the code that called the decorator factory (the user's decorator line)."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else None


def _first_param(fn: Any, decorator: str, example: str) -> None:
    """A workflow or activity is called as ``fn(ctx, input)``: it needs the context parameter."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return
    if not any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    ):
        raise DefinitionError(
            f"@{decorator} {fn.__name__}() takes no context parameter: the runtime calls it as "
            f"{fn.__name__}(ctx, input); write `{example}`",
            _where(fn),
        )


def _attach(obj: Any, cls: type[Definition], **fields: Any) -> Any:
    module, qualname, file, line = _location(obj)
    definition = cls(target=obj, module=module, qualname=qualname, file=file, line=line, **fields)
    try:
        setattr(obj, ATTR, (*definitions_of(obj), definition))
    except (AttributeError, TypeError) as exc:
        raise DefinitionError(f"cannot attach a {cls.kind} definition to {obj!r}: {exc}") from exc
    return obj


def _check_name(value: Any, what: str, obj: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise DefinitionError(
            f"{what} {value!r} is invalid: use letters, digits, '.', '_' or '-'", _where(obj)
        )
    return value


def _check_callable(obj: Any, decorator: str) -> None:
    if not callable(obj):
        raise DefinitionError(f"@{decorator} must decorate a function, got {obj!r}")


def _path(value: str, obj: Any, what: str = "route") -> str:
    path = value if value.startswith("/") else f"/{value}"
    if not _ROUTE.match(path) or "//" in path:
        raise DefinitionError(
            f"{what} {value!r} is invalid: use a URL path like 'orders/created'", _where(obj)
        )
    return path


def _duration(value: Any, what: str, obj: Any) -> timedelta | None:
    if value is None:
        return None
    try:
        result = parse_duration(value)
    except (ValueError, TypeError) as exc:
        raise DefinitionError(f"{what}: {exc}", _where(obj)) from exc
    if result <= timedelta(0):
        raise DefinitionError(f"{what} must be positive, got {value!r}", _where(obj))
    return result


def _bare_error(decorator: str, example: str, obj: Any) -> DefinitionError:
    return DefinitionError(f"@{decorator} needs arguments, e.g. {example}", _where(obj))


def topic(
    pubsub: str,
    topic: str | None = None,
    *,
    route: str | None = None,
    match: str | None = None,
    rules: Iterable[tuple[str, str]] | None = None,
    dead_letter_topic: str | None = None,
    metadata: Mapping[str, str] | None = None,
    bulk: bool = False,
    bulk_max_messages: int = 100,
    bulk_max_await_ms: int = 1000,
    name: str | None = None,
) -> Callable[[F], F]:
    """Subscribe the function to ``topic`` on the pub/sub component ``pubsub``.

    ``match`` is a CEL expression (``"event.type == 'created'"``): functions on the same
    topic with a ``match`` become routing rules in declaration order and the one without is
    the default route. ``rules`` adds explicit ``(match, path)`` rules served by this
    function. ``metadata`` is the subscription metadata (e.g. ``{"rawPayload": "true"}``);
    ``bulk=True`` enables bulk subscribe (the handler may take ``list[Model]``).
    """
    if callable(pubsub):
        raise _bare_error("topic", "@topic('pubsub', 'orders')", pubsub)
    if topic is None:
        raise DefinitionError(
            f"@topic({pubsub!r}) needs a topic name, e.g. @topic({pubsub!r}, 'orders')",
            _caller(),
        )

    def decorate(fn: F) -> F:
        _check_callable(fn, "topic")
        _check_name(pubsub, "pub/sub name", fn)
        _check_name(topic, "topic", fn)
        fname = name or fn.__name__
        path = _path(route or f"/events/{pubsub}/{topic}/{fname}", fn)
        rule_list = []
        for item in rules or ():
            if not (isinstance(item, tuple | list) and len(item) == 2):
                raise DefinitionError(
                    f"rules must be (match, path) pairs, got {item!r}", _where(fn)
                )
            expr, rule_path = item
            rule_list.append(Rule(_cel(expr, fn), _path(rule_path, fn, "rule path")))
        meta = dict(metadata or {})
        for key, value in meta.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise DefinitionError(
                    f"metadata must map strings to strings, got {key!r}: {value!r} "
                    "(write booleans as 'true')",
                    _where(fn),
                )
        if dead_letter_topic is not None:
            _check_name(dead_letter_topic, "dead-letter topic", fn)
        if bulk_max_messages < 1 or bulk_max_await_ms < 0:
            raise DefinitionError(
                "bulk_max_messages must be >= 1 and bulk_max_await_ms >= 0", _where(fn)
            )
        return _attach(
            fn,
            TopicDef,
            name=_check_name(fname, "function name", fn),
            pubsub=pubsub,
            topic=topic,
            route=path,
            match=_cel(match, fn) if match is not None else None,
            rules=tuple(rule_list),
            dead_letter_topic=dead_letter_topic,
            metadata=MappingProxyType(meta),
            bulk=bool(bulk),
            bulk_max_messages=bulk_max_messages,
            bulk_max_await_ms=bulk_max_await_ms,
        )

    return decorate


def _cel(expr: Any, obj: Any) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise DefinitionError(f"match must be a CEL expression string, got {expr!r}", _where(obj))
    from funchost._cel import check_cel

    error = check_cel(expr)
    if error:
        raise DefinitionError(f"match expression {expr!r} is invalid: {error}", _where(obj))
    return expr


@overload
def binding(name: F) -> F: ...
@overload
def binding(name: str | None = None, *, route: str | None = None) -> Callable[[F], F]: ...
def binding(name: Any = None, *, route: str | None = None) -> Any:
    """Handle events of the input binding component ``name`` (default: the function name)."""

    def decorate(fn: F) -> F:
        _check_callable(fn, "binding")
        if name is not None and not (isinstance(name, str) and name.strip()):
            raise DefinitionError(
                f"@binding({name!r}): the binding name is empty: pass the input binding "
                f"component's name, e.g. @binding('orders'), or write @binding alone to use the "
                f"function name ({fn.__name__!r})",
                _where(fn),
            )
        component = _check_name(name or fn.__name__, "binding name", fn)
        return _attach(
            fn,
            BindingDef,
            name=component,
            binding=component,
            route=_path(route or component, fn),
        )

    if callable(name):
        fn, name = name, None
        return decorate(fn)
    return decorate


def cron(schedule: str, *, name: str | None = None, per_replica: bool = False) -> Callable[[F], F]:
    """Run the function on a schedule: 5/6-field cron, ``@every 30s``, ``@hourly``, ...

    By default the schedule is a Dapr job (fires once per tick across replicas, handled at
    ``POST /job/<name>``); ``per_replica=True`` uses a ``bindings.cron`` input binding
    named ``<name>`` instead (fires in every replica).
    """
    if callable(schedule):
        raise _bare_error("cron", "@cron('*/5 * * * *')", schedule)

    def decorate(fn: F) -> F:
        _check_callable(fn, "cron")
        if not isinstance(schedule, str):
            raise DefinitionError(f"cron schedule must be a string, got {schedule!r}", _where(fn))
        try:
            job_schedule = normalize_schedule(schedule)
        except ValueError as exc:
            raise DefinitionError(str(exc), _where(fn)) from exc
        job = _check_name(name or fn.__name__.replace("_", "-"), "cron name", fn)
        return _attach(
            fn,
            CronDef,
            name=job,
            schedule=schedule,
            job_schedule=job_schedule,
            per_replica=bool(per_replica),
            route=f"/{job}" if per_replica else f"/job/{job}",
        )

    return decorate


@overload
def invoke(method: F) -> F: ...
@overload
def invoke(
    method: str | None = None, *, methods: Iterable[str] = ("POST",), name: str | None = None
) -> Callable[[F], F]: ...
def invoke(
    method: Any = None, *, methods: Iterable[str] = ("POST",), name: str | None = None
) -> Any:
    """Expose the function as a service-invocation method (``tasks/{id}`` path params)."""

    def decorate(fn: F) -> F:
        _check_callable(fn, "invoke")
        path = _path(method or fn.__name__, fn, "method")
        verbs = tuple(
            dict.fromkeys(
                str(v).upper() for v in ([methods] if isinstance(methods, str) else methods)
            )
        )
        bad = [v for v in verbs if v not in _VERBS]
        if bad or not verbs:
            raise DefinitionError(
                f"methods {bad or list(verbs)} invalid: use {sorted(_VERBS)}", _where(fn)
            )
        params = set(re.findall(r"{([^}:]+)(?::[^}]*)?}", path))
        accepted = inspect.signature(fn).parameters
        has_kwargs = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        missing = sorted(p for p in params if p not in accepted and not has_kwargs)
        if missing:
            raise DefinitionError(
                f"path parameter(s) {missing} of '{path}' are not parameters of "
                f"{fn.__name__}(): add them to the signature",
                _where(fn),
            )
        return _attach(
            fn,
            InvokeDef,
            name=_check_name(name or fn.__name__, "function name", fn),
            method=path.lstrip("/"),
            methods=verbs,
            route=path,
        )

    if callable(method):
        fn, method = method, None
        return decorate(fn)
    return decorate


@overload
def actor(cls: T) -> T: ...
@overload
def actor(
    cls: None = None,
    *,
    name: str | None = None,
    idle_timeout: str | timedelta | None = None,
    scan_interval: str | timedelta | None = None,
    drain_timeout: str | timedelta | None = None,
    reentrancy: bool = False,
    max_stack_depth: int = 32,
    serializer: Any = None,
) -> Callable[[T], T]: ...
def actor(
    cls: Any = None,
    *,
    name: str | None = None,
    idle_timeout: str | timedelta | None = None,
    scan_interval: str | timedelta | None = None,
    drain_timeout: str | timedelta | None = None,
    reentrancy: bool = False,
    max_stack_depth: int = 32,
    serializer: Any = None,
) -> Any:
    """Register a `dapr.actor.Actor` subclass; durations accept ``"1h"`` or a timedelta.

    ``serializer`` (a `dapr.serializers.Serializer`) (de)serializes messages and state; the
    default keeps JSON verbatim (see `funchost.wiring.actors.default_serializer`)."""

    def decorate(klass: T) -> T:
        from dapr.actor import Actor

        if not (isinstance(klass, type) and issubclass(klass, Actor)):
            raise DefinitionError(
                f"@actor must decorate a dapr.actor.Actor subclass, got {klass!r}",
                _where(klass) if isinstance(klass, type) else None,
            )
        if max_stack_depth < 1:
            raise DefinitionError("max_stack_depth must be >= 1", _where(klass))
        if name is not None and name != klass.__name__:
            raise DefinitionError(
                f"actor type {name!r} differs from the class name {klass.__name__!r}: the Dapr "
                "SDK names actor types after the class, rename the class instead",
                _where(klass),
            )
        from dapr.actor import ActorInterface

        if not any(
            isinstance(b, type) and issubclass(b, ActorInterface) and b is not ActorInterface
            for b in klass.__mro__
        ):
            raise DefinitionError(
                f"actor {klass.__name__} implements no ActorInterface: declare an interface "
                "class (ActorInterface subclass with @actormethod methods) and inherit it",
                _where(klass),
            )
        _check_remindable(klass)
        actor_type = _check_name(klass.__name__, "actor type", klass)
        return _attach(
            klass,
            ActorDef,
            name=actor_type,
            actor_type=actor_type,
            idle_timeout=_duration(idle_timeout, "idle_timeout", klass),
            scan_interval=_duration(scan_interval, "scan_interval", klass),
            drain_timeout=_duration(drain_timeout, "drain_timeout", klass),
            reentrancy=bool(reentrancy),
            max_stack_depth=max_stack_depth,
            serializer=serializer,
        )

    if cls is not None:
        return decorate(cls)
    return decorate


def config_change(
    store: str, *, keys: Iterable[str] | None = None, name: str | None = None
) -> Callable[[F], F]:
    """Run the function when ``keys`` (default: every key) of configuration store ``store`` change.

    The function gets the changed items, ``{key: {"value", "version", "metadata"}}`` (a key
    deleted from the store comes as ``{}``). Returning (or raising `Drop`) acknowledges the
    change; raising anything else answers 500, and the sidecar retries per the component's
    resiliency policy, then drops it. It runs in every replica that serves it.
    """
    if callable(store):
        raise _bare_error("config_change", "@config_change('configstore', keys=['flag'])", store)

    def decorate(fn: F) -> F:
        _check_callable(fn, "config_change")
        _check_name(store, "configuration store name", fn)
        if isinstance(keys, str):
            raise DefinitionError(
                f"keys must be a list of keys, got the string {keys!r}: write keys=[{keys!r}]",
                _where(fn),
            )
        watched = tuple(dict.fromkeys(keys or ()))
        for key in watched:
            if not isinstance(key, str) or not key.strip() or "/" in key:
                raise DefinitionError(
                    f"configuration key {key!r} is invalid: use a non-empty string without '/'",
                    _where(fn),
                )
        return _attach(
            fn,
            ConfigDef,
            name=_check_name(name or fn.__name__, "function name", fn),
            store=store,
            keys=watched,
        )

    return decorate


def _check_workflow(fn: Any) -> None:
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise DefinitionError(
            f"@workflow {fn.__name__} is `async def`: a Dapr workflow is a plain generator "
            "function (the runtime replays it); write `def "
            f"{fn.__name__}(ctx: DaprWorkflowContext, input):` with `result = yield "
            "ctx.call_activity(...)`, and put async code in an @activity",
            _where(fn),
        )
    _first_param(fn, "workflow", f"def {fn.__name__}(ctx: DaprWorkflowContext, input): ...")


def _check_activity(fn: Any) -> None:
    _first_param(fn, "activity", f"def {fn.__name__}(ctx: WorkflowActivityContext, input): ...")


def _check_remindable(klass: type) -> None:
    from dapr.actor import Remindable

    if issubclass(klass, Remindable) or not any(
        "receive_reminder" in vars(base) for base in klass.__mro__
    ):
        return
    bases = ", ".join(b.__name__ for b in klass.__bases__)
    raise DefinitionError(
        f"actor {klass.__name__} defines receive_reminder but does not inherit "
        "dapr.actor.Remindable, so the SDK rejects every reminder it is sent: add the mixin, "
        f"`class {klass.__name__}({bases}, Remindable)`",
        _where(klass),
    )


def _simple(kind: type[Definition], decorator: str, check: Callable[[Any], None]) -> Any:
    def factory(fn: Any = None, *, name: str | None = None) -> Any:
        def decorate(target: F) -> F:
            _check_callable(target, decorator)
            if isinstance(target, type):
                raise DefinitionError(f"@{decorator} must decorate a function", _where(target))
            check(target)
            wf_name = _check_name(name or target.__name__, f"{decorator} name", target)
            return _attach(target, kind, name=wf_name)

        if fn is not None:
            if isinstance(fn, str):
                return factory(name=fn)
            return decorate(fn)
        return decorate

    return factory


workflow = _simple(WorkflowDef, "workflow", _check_workflow)
workflow.__doc__ = (
    """Register a workflow (a generator taking ``(ctx, input)``, as in dapr.ext.workflow)."""
)
workflow.__name__ = "workflow"
activity = _simple(ActivityDef, "activity", _check_activity)
activity.__doc__ = """Register a workflow activity ``(ctx, input)``; sync or async."""
activity.__name__ = "activity"
