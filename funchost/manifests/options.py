"""`ManifestOptions`: what the code cannot tell the renderer (image, app id, addresses, sizes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from funchost.errors import ConfigError
from funchost.manifests.brokers import Broker
from funchost.manifests.names import Doc, dns_name

__all__ = ["PUBSUB_TYPES", "ManifestOptions", "meta"]

PUBSUB_TYPES = ("redis", "kafka")


@dataclass(frozen=True)
class ManifestOptions:
    """What the code cannot tell: image, app id, cluster addresses, sizes."""

    app_id: str = "funchost-app"
    image: str = "funchost-app:0.1.0"
    namespace: str | None = None
    """None: no namespace in the files (an overlay or `kubectl -n` sets it)."""
    port: int = 8000
    functions_path: str = "/app/functions"
    units: tuple[tuple[str, str], ...] = ()
    replicas: int = 2
    min_replicas: int = 2
    max_replicas: int = 10
    cpu_target: int = 70
    backlog_target: int = 10
    grace_seconds: int = 25
    pubsub_type: str = "redis"
    pubsub_types: tuple[tuple[str, str], ...] = ()
    pubsub_name: str = "pubsub"
    state_store: str = "statestore"
    redis_address: str = "redis-master.default.svc.cluster.local:6379"
    redis_secret: str = "redis"
    redis_secret_key: str = "redis-password"
    kafka_brokers: str = "kafka.default.svc.cluster.local:9092"
    kafka_secret: str = "kafka-credentials"
    zipkin_endpoint: str = "http://zipkin.default.svc.cluster.local:9411/api/v2/spans"
    tracing_sampling_rate: str = "1"
    keda: bool = True
    app_max_concurrency: int = 64
    """`dapr.io/app-max-concurrency`: requests daprd sends the app at once (per pod)."""
    sidecar_memory_limit_mib: int = 256
    """daprd's memory limit; GOMEMLIMIT is set to 90% of it so the Go GC acts before the OOM."""
    max_body_size: str = "4Mi"
    """`dapr.io/max-body-size` (daprd's default), matched by the app's FUNCHOST_MAX_BODY_SIZE."""
    secrets: tuple[str, ...] = ()
    """Kubernetes Secrets the functions read through the secret store (besides the brokers')."""
    brokers: tuple[tuple[str, Broker], ...] = ()
    sidecar_volumes: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.pubsub_type not in PUBSUB_TYPES:
            raise ConfigError(
                f"--pubsub-type {self.pubsub_type!r} is not supported: use redis or kafka"
            )
        for name, kind in self.pubsub_types:
            if kind not in PUBSUB_TYPES:
                raise ConfigError(f"pub/sub {name!r}: type {kind!r} unsupported: use redis|kafka")
        if dns_name(self.app_id) != self.app_id:
            raise ConfigError(
                f"--app-id {self.app_id!r} is not a valid Kubernetes name: use lower-case "
                f"letters, digits and '-' (e.g. {dns_name(self.app_id)!r})"
            )

    @property
    def config_name(self) -> str:
        """Name of the Dapr Configuration (the `dapr.io/config` annotation)."""
        return dns_name(self.app_id, "config")

    def secret_names(self, pubsubs: set[str]) -> list[str]:
        """The Secrets the pods read: the brokers' and state store's credentials, `secrets`."""
        names = {self.redis_secret, *self.secrets}
        for pubsub in pubsubs:
            names.update(name for _param, name, _key in self.broker_of(pubsub).refs)
        return sorted(names)

    @property
    def service_account(self) -> str:
        """The pods' ServiceAccount."""
        return self.app_id

    def common_labels(self) -> dict[str, str]:
        """Labels on every rendered resource."""
        return {
            "app.kubernetes.io/name": self.app_id,
            "app.kubernetes.io/part-of": self.app_id,
            "app.kubernetes.io/managed-by": "funchost",
        }

    def broker_of(self, pubsub: str) -> Broker:
        """How KEDA reads the backlog of pub/sub component `pubsub`.

        `--pubsub NAME=kind` wins, then the component YAML (`--components`), then
        `--pubsub-type` with the default Redis/Kafka addresses and secrets.
        """
        kind = dict(self.pubsub_types).get(pubsub)
        found = dict(self.brokers).get(pubsub)
        if found is not None and kind in (None, found.kind):
            return found
        if (kind or self.pubsub_type) == "kafka":
            refs = [("username", self.kafka_secret, "username")]
            refs.append(("password", self.kafka_secret, "password"))
            return Broker("kafka", self.kafka_brokers, tuple(refs), (("sasl", "scram_sha512"),))
        refs = [("password", self.redis_secret, self.redis_secret_key)]
        return Broker("redis", self.redis_address, tuple(refs))


def meta(name: str, opts: ManifestOptions, labels: dict[str, str] | None = None) -> Doc:
    """`metadata` with the name, namespace and the common labels."""
    doc: Doc = {"name": name, "labels": {**opts.common_labels(), **(labels or {})}}
    if opts.namespace:
        doc["namespace"] = opts.namespace
    return doc
