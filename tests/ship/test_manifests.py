"""The renderer: what the decorators become on Kubernetes, derived and deterministic."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from funchost.discovery import discover
from funchost.errors import ConfigError
from funchost.manifests import ManifestOptions, options_from, render
from funchost.registry import Registry
from funchost.units import parse_units

SAMPLE = Path(__file__).parents[1] / "functions" / "all_kinds"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return discover(SAMPLE, plugins=False)


def docs(files: dict[str, str]) -> dict[tuple[str, str], dict]:
    out = {}
    for text in files.values():
        for doc in yaml.safe_load_all(text):
            out[(doc["kind"], doc.get("metadata", {}).get("name", ""))] = doc
    return out


def test_rendering_is_deterministic(registry: Registry) -> None:
    opts = ManifestOptions(app_id="shop")
    assert render(registry, opts) == render(discover(SAMPLE, plugins=False), opts)


@pytest.mark.parametrize("units", ["", "api,workers,actors,workflows"])
def test_prometheus_scrapes_the_app_metrics(registry: Registry, units: str) -> None:
    split = tuple(parse_units(units).items()) if units else ()
    rendered = docs(render(registry, ManifestOptions(app_id="shop", port=9000, units=split)))
    deployments = [d for (kind, _), d in rendered.items() if kind == "Deployment"]
    assert len(deployments) == max(1, len(split))
    for deployment in deployments:
        notes = deployment["spec"]["template"]["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert notes["prometheus.io/port"] == "9000"
        assert notes["prometheus.io/path"] == "/metrics"


def test_everything_the_decorators_imply(registry: Registry) -> None:
    rendered = docs(render(registry, ManifestOptions(app_id="shop", image="shop:1")))
    pod = rendered[("Deployment", "shop")]["spec"]["template"]
    notes = pod["metadata"]["annotations"]
    assert notes["dapr.io/enabled"] == "true" and notes["dapr.io/app-id"] == "shop"
    assert notes["dapr.io/app-port"] == "8000" and notes["dapr.io/app-protocol"] == "http"
    assert notes["dapr.io/enable-app-health-check"] == "true"
    assert notes["dapr.io/app-health-check-path"] == "/healthz"
    assert notes["dapr.io/config"] == "shop-config"
    for key in ("cpu-limit", "memory-limit", "cpu-request", "memory-request"):
        assert f"dapr.io/sidecar-{key}" in notes
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    # daprd outlives the app's drain; the pod's grace period covers both.
    app_grace = int(env["FUNCHOST_SHUTDOWN_GRACE"])
    dapr_grace = int(notes["dapr.io/graceful-shutdown-seconds"])
    assert app_grace < dapr_grace < pod["spec"]["terminationGracePeriodSeconds"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "shop:1"

    # Subscriptions equal what the app serves at /dapr/subscribe.
    subs = [d for (kind, _), d in rendered.items() if kind == "Subscription"]
    assert sorted((s["spec"]["pubsubname"], s["spec"]["topic"]) for s in subs) == sorted(
        (i["pubsubname"], i["topic"]) for i in registry.subscriptions()
    )
    orders = rendered[("Subscription", "shop-pubsub-orders")]["spec"]
    assert orders["deadLetterTopic"] == "orders-dlq"
    assert orders["routes"]["rules"] == [
        {"match": "event.type == 'refund'", "path": "/orders/refund"}
    ]
    assert any(s["spec"].get("bulkSubscribe", {}).get("enabled") for s in subs)

    # Per-replica crons become bindings.cron components; Dapr-job crons do not.
    cron = rendered[("Component", "heartbeat")]
    assert cron["spec"]["type"] == "bindings.cron" and cron["scopes"] == ["shop"]
    assert ("Component", "cleanup") not in rendered

    # Resiliency targets the actor types and the components the code uses.
    targets = rendered[("Resiliency", "shop-resiliency")]["spec"]["targets"]
    assert set(targets["actors"]) == {"CounterActor"}
    assert {"pubsub", "statestore", "queue"} <= set(targets["components"])

    config = rendered[("Configuration", "shop-config")]["spec"]
    # mTLS belongs to the control plane's `daprsystem` Configuration, not the app's
    assert "mtls" not in config and config["tracing"]["samplingRate"] == "1"

    scaled = rendered[("ScaledObject", "shop")]["spec"]
    streams = {t["metadata"]["stream"] for t in scaled["triggers"] if t["type"] == "redis-streams"}
    assert streams == {"orders", "raw", "pings"}
    assert all(
        t["metadata"]["consumerGroup"] == "shop"
        for t in scaled["triggers"]
        if t["type"] == "redis-streams"
    )
    # KEDA scales on the backlog (lagCount), not on delivered-but-unacknowledged entries
    assert all(
        t["metadata"]["lagCount"] == "10" and "pendingEntriesCount" not in t["metadata"]
        for t in scaled["triggers"]
        if t["type"] == "redis-streams"
    )
    assert ("TriggerAuthentication", "shop-pubsub-keda-auth") in rendered
    assert ("PodDisruptionBudget", "shop") in rendered and ("Service", "shop") in rendered

    # The ScaledObject owns the replica count; no namespace is baked in.
    assert "replicas" not in rendered[("Deployment", "shop")]["spec"]
    assert all("namespace" not in d.get("metadata", {}) for d in rendered.values())
    # daprd: JSON logs, GOMEMLIMIT under its memory limit, bounded concurrency, body limit.
    assert notes["dapr.io/log-as-json"] == "true"
    assert notes["dapr.io/env"] == "GOMEMLIMIT=230MiB"
    assert notes["dapr.io/app-max-concurrency"] == "64"
    assert notes["dapr.io/max-body-size"] == env["FUNCHOST_MAX_BODY_SIZE"] == "4Mi"
    assert env["OTEL_SERVICE_NAME"] == "shop"
    # The Role reads only the named Secrets (the Redis password), with `get`.
    (rule,) = rendered[("Role", "shop-secret-reader")]["rules"]
    assert rule["resourceNames"] == ["redis"] and rule["verbs"] == ["get"]


def test_keda_triggers_follow_the_pubsub_component(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "pubsub.yaml").write_text(
        textwrap.dedent(
            """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: {name: pubsub}
            spec:
              type: pubsub.kafka
              version: v1
              metadata:
                - {name: brokers, value: "b1:9092,b2:9092"}
                - {name: consumerGroup, value: shop-consumers}
                - {name: saslUsername, secretKeyRef: {name: kafka-user, key: user}}
                - {name: saslPassword, secretKeyRef: {name: kafka-user, key: pass}}
                - {name: saslMechanism, value: SHA-256}
            """
        )
    )
    opts = options_from(app_id="shop", image=None, units=None, pubsub_type="redis",
                        components=[tmp_path])  # fmt: skip
    rendered = docs(render(registry, opts))
    triggers = rendered[("ScaledObject", "shop")]["spec"]["triggers"]
    kafka = [t for t in triggers if t["type"] == "kafka"]
    assert {t["metadata"]["topic"] for t in kafka} == {"orders", "raw", "pings"}
    first = kafka[0]["metadata"]
    assert first["bootstrapServers"] == "b1:9092,b2:9092"
    assert first["consumerGroup"] == "shop-consumers" and first["sasl"] == "scram_sha256"
    auth = rendered[("TriggerAuthentication", "shop-pubsub-keda-auth")]["spec"]["secretTargetRef"]
    assert auth == [
        {"parameter": "username", "name": "kafka-user", "key": "user"},
        {"parameter": "password", "name": "kafka-user", "key": "pass"},
    ]


def test_unsupported_broker_is_reported(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "pubsub.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pubsub}\n"
        "spec: {type: pubsub.rabbitmq, version: v1, metadata: []}\n"
    )
    with pytest.raises(ConfigError, match=r"pubsub\.rabbitmq.*--no-keda"):
        options_from(app_id="shop", image=None, units=None, pubsub_type="redis",
                     components=[tmp_path])  # fmt: skip
    no_keda = options_from(app_id="shop", image=None, units=None, pubsub_type="redis", keda=False)
    rendered = docs(render(registry, no_keda))
    assert ("HorizontalPodAutoscaler", "shop") in rendered
    assert not any(kind == "ScaledObject" for kind, _ in rendered)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"app_id": "Task_Agent"}, "not a valid Kubernetes name"),
        ({"pubsub_type": "nats"}, "use redis or kafka"),
    ],
)
def test_bad_options_say_what_to_do(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ManifestOptions(**kwargs)
