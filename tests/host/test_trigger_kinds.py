"""A trigger kind's facts live on its definition class: a new kind is seen everywhere else.

The test declares a `webhook` kind the way a contributor would (a `Definition` subclass with its
facts), and checks that the plugin list (its wiring), the registry, scale units (`FUNCHOST_ENABLE`,
`--units`), the manifests and observability all know it without being edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import pytest

from funchost import invoke, topic, triggers, workflow
from funchost.errors import RegistryError
from funchost.manifests.kubernetes import Unit
from funchost.observability.middleware import RouteTarget, routes_from_definitions
from funchost.plugins import builtin_plugins
from funchost.registry import Registry
from funchost.triggers import Definition, kinds
from funchost.units import select_enabled, unit_kinds


@pytest.fixture
def webhook_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Definition]]:
    """A `webhook` kind served by the `api` unit, delivered over HTTP, part of the public API."""
    monkeypatch.setattr(triggers, "_KINDS", dict(triggers._KINDS))

    @dataclass(frozen=True, kw_only=True)
    class WebhookDef(Definition):
        kind: ClassVar[str] = "webhook"
        wiring: ClassVar[tuple[str, ...]] = ("my_plugin.webhooks",)
        unit: ClassVar[str] = "api"
        http: ClassVar[bool] = True
        retried: ClassVar[bool] = True
        public_api: ClassVar[bool] = True
        route: str

    yield WebhookDef


def _webhook(cls: type[Definition], name: str = "github") -> Definition:
    where = {"module": "m", "qualname": name, "file": "m.py", "line": 1}
    return cls(name=name, target=None, route="/gh", **where)  # type: ignore[call-arg,arg-type]


def test_the_built_in_kinds_in_declaration_order() -> None:
    assert list(kinds()) == [
        "topic", "binding", "cron", "invoke", "config", "actor", "workflow", "activity",
    ]  # fmt: skip


def test_the_built_in_plugins_are_the_kinds_wiring_then_the_rest() -> None:
    assert builtin_plugins() == (
        "funchost.wiring.pubsub",
        "funchost.wiring.bindings",
        "funchost.wiring.jobs",
        "funchost.wiring.invoke",
        "funchost.wiring.configuration",
        "funchost.wiring.actors",
        "funchost.wiring.workflows",
        "funchost.observability.plugin",
        "funchost._shutdown_plugin",
    )


def test_a_new_kind_is_known_to_units_and_the_registry(webhook_kind: type[Definition]) -> None:
    assert "webhook" in kinds()
    plugins = builtin_plugins()
    wiring = [m for m in plugins if m.startswith("funchost.wiring.")]
    assert plugins.index("my_plugin.webhooks") == len(wiring)  # after the wiring before it
    assert unit_kinds("webhook") == ("webhook",)
    assert unit_kinds("api") == ("invoke", "webhook")

    @invoke("hello")
    def hello() -> str:
        return "hi"

    @topic("pubsub", "orders")
    def on_order(order: dict) -> None: ...

    hook = _webhook(webhook_kind)
    registry = Registry([hello, on_order, hook])
    assert [d.kind for d in select_enabled(registry, "api")] == ["invoke", "webhook"]
    assert [d.kind for d in select_enabled(registry, "webhook")] == ["webhook"]
    with pytest.raises(RegistryError, match=r"decorate it with @topic/.*/@activity/@webhook"):
        Registry([object()])


def test_a_new_kind_is_observed_and_backs_the_service(webhook_kind: type[Definition]) -> None:
    hook = _webhook(webhook_kind)
    table = routes_from_definitions([hook])
    assert table({"path": "/gh", "method": "POST"}) == RouteTarget("github", "webhook")
    unit = Unit(name="api", deployment="app-api", enable="api", registry=Registry([hook]))
    assert unit.serves_http_api


def test_workflows_and_activities_are_one_unit() -> None:
    @workflow
    def flow(ctx: object, data: object) -> None:
        return None

    assert unit_kinds("workflow") == ("workflow", "activity")
    assert unit_kinds("activity") == ("workflow", "activity")
    assert [d.kind for d in select_enabled(Registry([flow]), "flow")] == ["workflow"]
