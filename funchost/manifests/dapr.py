"""Dapr resources rendered from a registry: Configuration, Resiliency, Subscriptions, crons,
configuration stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funchost.manifests.names import Doc, dns_name
from funchost.manifests.options import meta
from funchost.registry import Registry
from funchost.triggers import ConfigDef

if TYPE_CHECKING:
    from funchost.manifests.options import ManifestOptions


def configuration(opts: ManifestOptions) -> Doc:
    """The Dapr Configuration the sidecars use (`dapr.io/config`): tracing, metrics, logging.

    No `mtls` block: daprd ignores it in an app's Configuration; mTLS is set in the control
    plane's `daprsystem` Configuration (k8s/README.md).
    """
    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": meta(opts.config_name, opts),
        "spec": {
            "tracing": {
                "samplingRate": opts.tracing_sampling_rate,
                "zipkin": {"endpointAddress": opts.zipkin_endpoint},
            },
            "metric": {"enabled": True},
            "logging": {"apiLogging": {"omitHealthChecks": True}},
        },
    }


def resiliency(registry: Registry, opts: ManifestOptions) -> Doc:
    """Retries, timeouts and circuit breakers for the components and actors the code uses."""
    components: dict[str, Any] = {
        opts.state_store: {"outbound": {"retry": "stateRetry", "timeout": "general"}},
    }
    for pubsub in sorted({t.pubsub for t in registry.topics} | {opts.pubsub_name}):
        components[pubsub] = {
            "inbound": {"retry": "eventRetry"},
            "outbound": {"retry": "publishRetry", "timeout": "general"},
        }
    for binding in sorted({b.binding for b in registry.bindings}):
        components[binding] = {"inbound": {"retry": "eventRetry"}}
    for store in sorted({c.store for c in registry.of(ConfigDef)}):  # change callbacks
        components[store] = {"inbound": {"retry": "eventRetry"}}
    actors = {
        a.actor_type: {
            "timeout": "actorTurn",
            "retry": "actorRetry",
            "circuitBreaker": "actorBreaker",
            "circuitBreakerScope": "both",
            "circuitBreakerCacheSize": 5000,
        }
        for a in sorted(registry.actors, key=lambda a: a.actor_type)
    }
    targets: Doc = {
        "apps": {opts.app_id: {"timeout": "general", "retry": "invokeRetry"}},
        "components": components,
    }
    if actors:
        targets["actors"] = actors
    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": meta(dns_name(opts.app_id, "resiliency"), opts),
        "scopes": [opts.app_id],
        "spec": {
            "policies": {
                "timeouts": {"general": "15s", "actorTurn": "60s"},
                "retries": {
                    # Events: back off, then dead-letter (deadLetterTopic) when retries run out.
                    "eventRetry": {
                        "policy": "exponential",
                        "maxInterval": "60s",
                        "maxRetries": 10,
                    },
                    "publishRetry": {"policy": "constant", "duration": "1s", "maxRetries": 5},
                    "stateRetry": {"policy": "exponential", "maxInterval": "5s", "maxRetries": 5},
                    "invokeRetry": {"policy": "constant", "duration": "1s", "maxRetries": 3},
                    "actorRetry": {"policy": "constant", "duration": "1s", "maxRetries": 3},
                },
                "circuitBreakers": {
                    "actorBreaker": {
                        "maxRequests": 1,
                        "interval": "0s",
                        "timeout": "30s",
                        "trip": "consecutiveFailures > 5",
                    }
                },
            },
            "targets": targets,
        },
    }


def subscriptions(registry: Registry, opts: ManifestOptions) -> list[Doc]:
    """Declarative v2alpha1 Subscriptions equal to what the app serves at GET /dapr/subscribe."""
    docs = []
    for item in registry.subscriptions():
        spec = {k: v for k, v in item.items() if k != "scopes"}
        name = dns_name(opts.app_id, item["pubsubname"], item["topic"])
        docs.append(
            {
                "apiVersion": "dapr.io/v2alpha1",
                "kind": "Subscription",
                "metadata": meta(name, opts),
                "scopes": [opts.app_id],
                "spec": spec,
            }
        )
    return docs


def cron_bindings(registry: Registry, opts: ManifestOptions) -> list[Doc]:
    """`bindings.cron` input components for the per-replica crons (name = cron name)."""
    docs = []
    for cron in sorted((c for c in registry.crons if c.per_replica), key=lambda c: c.name):
        docs.append(
            {
                "apiVersion": "dapr.io/v1alpha1",
                "kind": "Component",
                "metadata": meta(cron.name, opts),
                "scopes": [opts.app_id],
                "spec": {
                    "type": "bindings.cron",
                    "version": "v1",
                    "metadata": [
                        {"name": "schedule", "value": cron.job_schedule},
                        {"name": "direction", "value": "input"},
                    ],
                },
            }
        )
    return docs


def config_stores(registry: Registry, opts: ManifestOptions) -> list[Doc]:
    """`configuration.redis` components for the stores `@config_change` functions watch.

    Items are Redis strings `value||version`; daprd enables keyspace notifications itself
    (`CONFIG SET notify-keyspace-events`), or the server must have them on.
    """
    docs = []
    for store in sorted({d.store for d in registry.of(ConfigDef)}):
        docs.append(
            {
                "apiVersion": "dapr.io/v1alpha1",
                "kind": "Component",
                "metadata": meta(store, opts),
                "scopes": [opts.app_id],
                "spec": {
                    "type": "configuration.redis",
                    "version": "v1",
                    "metadata": [
                        {"name": "redisHost", "value": opts.redis_address},
                        {
                            "name": "redisPassword",
                            "secretKeyRef": {
                                "name": opts.redis_secret,
                                "key": opts.redis_secret_key,
                            },
                        },
                    ],
                },
                "auth": {"secretStore": "kubernetes"},
            }
        )
    return docs
