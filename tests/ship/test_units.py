"""Scale units: `select_enabled` picks what a replica serves; the app serves exactly that."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from funchost.app import create_app
from funchost.discovery import discover
from funchost.errors import ConfigError
from funchost.manifests import ManifestOptions, render, select_enabled
from funchost.registry import Registry
from funchost.settings import Settings
from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, free_port
from funchost.units import parse_units

SAMPLE = Path(__file__).parents[1] / "functions" / "all_kinds"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return discover(SAMPLE, plugins=False)


def names(registry: Registry) -> set[str]:
    return {f"{d.kind}:{d.name}" for d in registry}


JOB = {"cron:cleanup"}  # Dapr-job crons are served by every unit

CASES = [
    ("api", {"invoke:get_task", "invoke:create_task"} | JOB),
    (
        "workers",
        {
            "topic:on_order",
            "topic:on_refund",
            "topic:on_raw",
            "topic:on_pings",
            "binding:queue",
            "cron:heartbeat",
        }
        | JOB,
    ),
    ("actors", {"actor:CounterActor"} | JOB),
    ("workflows", {"workflow:double_it", "activity:double", "activity:shout"} | JOB),
    ("actor,invoke", {"actor:CounterActor", "invoke:get_task", "invoke:create_task"} | JOB),
    # one handler of a topic brings the topic's other handlers (one subscription per topic)
    ("on_refund", {"topic:on_order", "topic:on_refund"} | JOB),
    # one activity brings every workflow and activity (any worker may get any of them)
    ("shout", {"workflow:double_it", "activity:double", "activity:shout"} | JOB),
    ("heartbeat", {"cron:heartbeat"} | JOB),
    ("CounterActor workflow", {"actor:CounterActor", "workflow:double_it", "activity:double",
                               "activity:shout"} | JOB),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "expected"), CASES)
def test_select_enabled(registry: Registry, spec: str, expected: set[str]) -> None:
    assert names(select_enabled(registry, spec)) == expected


@pytest.mark.parametrize("spec", [None, "", "all", "*", "api,all"])
def test_everything_when_not_restricted(registry: Registry, spec: str | None) -> None:
    assert select_enabled(registry, spec) is registry


def test_unknown_token_names_the_choices(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"unknown unit, kind or function 'apii'.*api, workers"):
        select_enabled(registry, "apii")


def _trigger_routes(app) -> set[tuple[str, str]]:
    baseline = {(m, r.path) for r in create_app(Registry(), Settings()).routes
                if isinstance(r, Route) for m in (r.methods or ())}  # fmt: skip
    routes = {(m, r.path) for r in app.routes if isinstance(r, Route) for m in (r.methods or ())}
    return {(m, p) for m, p in routes - baseline if m != "HEAD"}


def _expected_routes(selected: Registry) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for d in selected:
        if d.kind == "invoke":
            out |= {(m, d.route) for m in d.methods}
        elif d.kind in ("topic", "cron"):
            out.add(("POST", d.route))
        elif d.kind == "binding" or (d.kind == "cron" and d.per_replica):
            out |= {("POST", d.route), ("OPTIONS", d.route)}
    for d in selected:
        if d.kind == "cron" and d.per_replica:
            out.add(("OPTIONS", d.route))
    if selected.actors:
        out |= {
            ("GET", "/dapr/config"),
            ("DELETE", "/actors/{actor_type_name}/{actor_id}"),
            ("PUT", "/actors/{actor_type_name}/{actor_id}/method/{method_name}"),
            ("PUT", "/actors/{actor_type_name}/{actor_id}/method/timer/{timer_name}"),
            ("PUT", "/actors/{actor_type_name}/{actor_id}/method/remind/{reminder_name}"),
        }
    return out


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """The embedded sidecar (no app port: the apps below only register with it)."""
    db = tmp_path_factory.mktemp("units") / "shop.db"
    config = SidecarConfig(app_id="shop", http_port=free_port(), grpc_port=free_port(), db_path=db)
    thread = SidecarThread(Sidecar(config))
    thread.start()
    yield thread.sidecar
    thread.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("unit", ["api", "workers", "actors", "workflows"])
def test_app_serves_exactly_the_unit(
    registry: Registry, unit: str, sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    for key, value in sidecar.env().items():
        monkeypatch.setenv(key, value)

    selected = select_enabled(registry, unit)
    app = create_app(selected, Settings(app_id="shop"))
    assert _trigger_routes(app) == _expected_routes(selected)

    # The lifespan registers the actor types, schedules the jobs and starts the workflow
    # runtime against the sidecar.
    settings = Settings(app_id="shop")
    served = create_app(selected, settings)
    with TestClient(served) as client:
        subscribe = client.get("/dapr/subscribe")
        topics = {i["topic"] for i in subscribe.json()} if subscribe.status_code == 200 else set()
        assert topics == ({"orders", "raw", "pings"} if unit == "workers" else set())
        config = client.get("/dapr/config")
        entities = config.json().get("entities", []) if config.status_code == 200 else []
        assert entities == (["CounterActor"] if unit == "actors" else [])
        # The workflow runtime starts only where workflows are served (with all activities).
        host = served.state.funchost
        if unit == "workflows":
            deadline = time.monotonic() + 60
            while host.workflow_runtime is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert host.workflow_runtime is not None, "workflow runtime did not start"
            assert {a.name for a in host.registry.activities} == {"double", "shout"}
        else:
            assert host.workflow_runtime is None
            assert not host.registry.workflows and not host.registry.activities


def test_units_render_one_deployment_each_with_the_same_app_id(registry: Registry) -> None:
    opts = ManifestOptions(
        app_id="shop", units=tuple(parse_units("api,workers,actors,workflows").items())
    )
    files = render(registry, opts)
    import yaml

    deployments = {}
    for text in files.values():
        for doc in yaml.safe_load_all(text):
            if doc["kind"] == "Deployment":
                deployments[doc["metadata"]["name"]] = doc
    assert set(deployments) == {"shop-api", "shop-workers", "shop-actors", "shop-workflows"}
    for name, doc in deployments.items():
        pod = doc["spec"]["template"]
        assert pod["metadata"]["annotations"]["dapr.io/app-id"] == "shop"
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["FUNCHOST_ENABLE"] == name.removeprefix("shop-")
    kinds = {
        (doc["kind"], doc["metadata"]["name"])
        for text in files.values()
        for doc in yaml.safe_load_all(text)
        if "metadata" in doc
    }
    assert ("ScaledObject", "shop-workers") in kinds  # topic consumers scale on the backlog
    assert ("HorizontalPodAutoscaler", "shop-api") in kinds
    assert ("ScaledObject", "shop-api") not in kinds


def test_units_must_cover_every_function(registry: Registry) -> None:
    opts = ManifestOptions(app_id="shop", units=tuple(parse_units("api,workers").items()))
    with pytest.raises(ConfigError, match="no unit serves actor CounterActor"):
        render(registry, opts)


def test_custom_units(registry: Registry) -> None:
    units = parse_units("api,stateful=actor+workflow,workers")
    assert units == {"api": "api", "stateful": "actor,workflow", "workers": "workers"}
    files = render(registry, ManifestOptions(app_id="shop", units=tuple(units.items())))
    assert "shop-stateful.yaml" in files
    with pytest.raises(ConfigError, match="listed twice"):
        parse_units("api,api")
