"""Kubernetes resources for one scale unit: Deployment (Dapr annotations), PDB, autoscaler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from funchost.manifests.names import Doc, dns_name
from funchost.manifests.options import meta
from funchost.registry import Registry

if TYPE_CHECKING:
    from funchost.manifests.options import ManifestOptions

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"


@dataclass(frozen=True)
class Unit:
    """One Deployment: its name, the FUNCHOST_ENABLE spec and the registry it serves."""

    name: str
    deployment: str
    enable: str
    registry: Registry

    @property
    def serves_http_api(self) -> bool:
        """True when the unit serves the app's HTTP API, e.g. @invoke (it backs the Service)."""
        return any(d.public_api for d in self.registry)


def pod_labels(unit: Unit) -> dict[str, str]:
    """The selector labels of the unit's pods (`app=<deployment>`, as in the capstone)."""
    return {"app": unit.deployment}


def deployment(unit: Unit, opts: ManifestOptions, autoscaled: bool = True) -> Doc:
    """The unit's Deployment: the funchost image next to an injected daprd.

    `autoscaled`: an HPA or ScaledObject owns the replica count, so `spec.replicas` is left
    out (with it, every `kubectl apply` would reset the count the autoscaler chose).
    """
    env = [
        {"name": "FUNCHOST_APP_ID", "value": opts.app_id},
        {"name": "FUNCHOST_HOST", "value": "0.0.0.0"},
        {"name": "FUNCHOST_APP_PORT", "value": str(opts.port)},
        {"name": "FUNCHOST_SHUTDOWN_GRACE", "value": str(opts.grace_seconds)},
        {"name": "FUNCHOST_LOG_LEVEL", "value": "info"},
        {"name": "FUNCHOST_MAX_BODY_SIZE", "value": opts.max_body_size},
        {"name": "OTEL_SERVICE_NAME", "value": unit.deployment},
    ]
    if unit.enable:
        env.append({"name": "FUNCHOST_ENABLE", "value": unit.enable})
    annotations = {
        "dapr.io/enabled": "true",
        "dapr.io/app-id": opts.app_id,
        "dapr.io/app-port": str(opts.port),
        "dapr.io/app-protocol": "http",
        "dapr.io/config": opts.config_name,
        "dapr.io/enable-api-logging": "true",
        "dapr.io/log-level": "info",
        "dapr.io/sidecar-cpu-request": "100m",
        "dapr.io/sidecar-cpu-limit": "500m",
        "dapr.io/sidecar-memory-request": "64Mi",
        "dapr.io/sidecar-memory-limit": f"{opts.sidecar_memory_limit_mib}Mi",
        # The Go runtime ignores the cgroup limit: GOMEMLIMIT makes daprd's GC act before OOM.
        "dapr.io/env": f"GOMEMLIMIT={opts.sidecar_memory_limit_mib * 9 // 10}MiB",
        "dapr.io/log-as-json": "true",
        "dapr.io/app-max-concurrency": str(opts.app_max_concurrency),
        "dapr.io/max-body-size": opts.max_body_size,
        "dapr.io/enable-app-health-check": "true",
        "dapr.io/app-health-check-path": "/healthz",
        "dapr.io/app-health-probe-interval": "5",
        "dapr.io/app-health-probe-timeout": "2000",
        "dapr.io/app-health-threshold": "3",
        # daprd outlives the app's drain (it serves the Dapr API to in-flight handlers) and
        # ends before terminationGracePeriodSeconds (grace + 15) SIGKILLs the pod.
        "dapr.io/graceful-shutdown-seconds": str(opts.grace_seconds + 5),
        # Prometheus scrapes the app's /metrics (per-function figures; open under APP_API_TOKEN).
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(opts.port),
        "prometheus.io/path": "/metrics",
    }
    volumes: list[Doc] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if opts.sidecar_volumes:
        annotations["dapr.io/volume-mounts-rw"] = ",".join(
            f"{name}:{path}" for name, path in opts.sidecar_volumes
        )
        volumes += [{"name": name, "emptyDir": {}} for name, _ in opts.sidecar_volumes]
    labels = {**pod_labels(unit), COMPONENT: unit.name}
    http_get = {"path": "/healthz", "port": "http"}
    container: Doc = {
        "name": "app",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve", opts.functions_path],
        "env": env,
        "ports": [{"name": "http", "containerPort": opts.port, "protocol": "TCP"}],
        # Starts once the host answers; the host itself waits for daprd before serving.
        "startupProbe": {"httpGet": http_get, "periodSeconds": 2, "failureThreshold": 60},
        # Readiness fails while draining (503), taking the pod out of the Service at once.
        "readinessProbe": {"httpGet": http_get, "periodSeconds": 5, "failureThreshold": 2},
        # Liveness is a TCP check so a draining pod is not restarted before it finishes.
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    spec: Doc = {} if autoscaled else {"replicas": opts.replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(unit.deployment, opts, {COMPONENT: unit.name}),
        "spec": {
            **spec,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": pod_labels(unit)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": {**opts.common_labels(), **labels},
                    "annotations": annotations,
                },
                "spec": {
                    "serviceAccountName": opts.service_account,
                    "terminationGracePeriodSeconds": opts.grace_seconds + 15,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def disruption_budget(unit: Unit, opts: ManifestOptions) -> Doc:
    """At most one pod of the unit down at a time during voluntary disruptions."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(unit.deployment, opts, {COMPONENT: unit.name}),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": pod_labels(unit)}},
    }


def _target(unit: Unit) -> Doc:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": unit.deployment}


def hpa(unit: Unit, opts: ManifestOptions) -> Doc:
    """CPU-based autoscaling/v2 HorizontalPodAutoscaler (units without topic consumers)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(unit.deployment, opts, {COMPONENT: unit.name}),
        "spec": {
            "scaleTargetRef": _target(unit),
            "minReplicas": opts.min_replicas,
            "maxReplicas": opts.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": opts.cpu_target},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def auth_name(opts: ManifestOptions, pubsub: str) -> str:
    """Name of the KEDA TriggerAuthentication for a pub/sub component."""
    return dns_name(opts.app_id, pubsub, "keda-auth")


def scaled_object(unit: Unit, opts: ManifestOptions) -> Doc:
    """KEDA ScaledObject: one trigger per consumed topic (backlog of the app's consumer group)."""
    triggers: list[Doc] = []
    for pubsub, topic in sorted({(t.pubsub, t.topic) for t in unit.registry.topics}):
        broker = opts.broker_of(pubsub)
        group = broker.consumer_group or opts.app_id
        if broker.kind == "kafka":
            metadata = {
                "bootstrapServers": broker.address,
                "consumerGroup": group,
                "topic": topic,
                "lagThreshold": str(opts.backlog_target),  # consumer-group lag (the backlog)
                "activationLagThreshold": "0",
                "offsetResetPolicy": "earliest",
            }
            kind = "kafka"
        else:
            # Dapr's Redis pub/sub: one stream per topic, consumer group = the app id. `lagCount`
            # (XINFO GROUPS lag, Redis >= 7) is the undelivered backlog; `pendingEntriesCount`
            # would count only delivered, unacknowledged entries.
            metadata = {
                "address": broker.address,
                "stream": topic,
                "consumerGroup": group,
                "lagCount": str(opts.backlog_target),
                "activationLagCount": "0",
            }
            kind = "redis-streams"
        metadata.update(dict(broker.metadata))
        trigger: Doc = {"type": kind, "name": dns_name(pubsub, topic), "metadata": metadata}
        if broker.refs:
            trigger["authenticationRef"] = {"name": auth_name(opts, pubsub)}
        triggers.append(trigger)
    triggers.append(
        {
            "type": "cpu",
            "name": "cpu",
            "metricType": "Utilization",
            "metadata": {"value": str(opts.cpu_target)},
        }
    )
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(unit.deployment, opts, {COMPONENT: unit.name}),
        "spec": {
            "scaleTargetRef": _target(unit),
            "minReplicaCount": opts.min_replicas,
            "maxReplicaCount": opts.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }


def trigger_authentication(opts: ManifestOptions, pubsub: str) -> Doc | None:
    """KEDA TriggerAuthentication reading a broker's credentials from their Kubernetes secret."""
    broker = opts.broker_of(pubsub)
    if not broker.refs:
        return None
    refs = [{"parameter": p, "name": name, "key": key} for p, name, key in broker.refs]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": meta(auth_name(opts, pubsub), opts),
        "spec": {"secretTargetRef": refs},
    }


def service(units: list[Unit], opts: ManifestOptions) -> Doc | None:
    """ClusterIP Service `<app-id>` (port 80) in front of the unit serving the HTTP API."""
    api = [u for u in units if u.serves_http_api] or units[:1]
    if not api:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(dns_name(opts.app_id), opts),
        "spec": {
            "type": "ClusterIP",
            "selector": pod_labels(api[0]),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def rbac(opts: ManifestOptions, secrets: list[str]) -> list[Doc]:
    """ServiceAccount of the pods, allowed to `get` only the named Secrets (`resourceNames`).

    daprd's Kubernetes secret store reads one Secret with `get`; `list` (bulk reads) cannot be
    limited to names, so it is not granted.
    """
    name = opts.service_account
    subject = {"kind": "ServiceAccount", "name": name}
    if opts.namespace:
        subject["namespace"] = opts.namespace
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, opts)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(dns_name(name, "secret-reader"), opts),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": secrets,
                    "verbs": ["get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(dns_name(name, "secret-reader"), opts),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": dns_name(name, "secret-reader"),
            },
            "subjects": [subject],
        },
    ]
