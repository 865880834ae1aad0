"""Dapr and Kubernetes YAML rendered from the registered functions (the decorators are the truth).

``funchost manifests functions/ --out k8s/app`` writes, into one folder with a kustomization:

- ``configuration.yaml`` (Dapr Configuration: tracing, mTLS), ``resiliency.yaml``;
- ``cron-bindings.yaml``: a ``bindings.cron`` Component per ``@cron(per_replica=True)``;
- ``rbac.yaml``: the pods' ServiceAccount, allowed to read Secrets (Kubernetes secret store);
- one ``<deployment>.yaml`` per scale unit: Deployment (Dapr annotations), PodDisruptionBudget and
  an autoscaler (a KEDA ScaledObject on the topic backlog for topic consumers, else a CPU HPA);
- ``service.yaml`` and ``keda-auth.yaml`` (TriggerAuthentication from the broker secret);
- ``subscriptions/``: declarative v2alpha1 Subscriptions equal to ``GET /dapr/subscribe``
  (not in the kustomization: the app subscribes programmatically; apply them for declarative
  setups).

Output is deterministic (sorted keys, stable order), so ``--check`` can diff it against the
committed files and fail CI on drift.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from funchost.errors import ConfigError
from funchost.manifests import dapr
from funchost.manifests import kubernetes as k8s
from funchost.manifests.brokers import brokers_from_components
from funchost.manifests.options import ManifestOptions
from funchost.registry import Registry
from funchost.units import UNITS, parse_units, select_enabled

__all__ = [
    "HEADER",
    "ManifestOptions",
    "check",
    "options_from",
    "render",
    "select_enabled",
    "write",
]

DEFAULT_TAG = "0.1.0"
"""Image tag when --image has none: never `latest` (a rollout could not tell versions apart)."""

HEADER = (
    "# Rendered by `funchost manifests` from the decorated functions: do not edit by hand.\n"
    "# Change the code, re-render, commit; CI fails (`funchost manifests --check`) on drift.\n"
)


def _units(registry: Registry, opts: ManifestOptions) -> list[k8s.Unit]:
    if not opts.units:
        return [k8s.Unit("app", opts.app_id, "", registry)]
    units: list[k8s.Unit] = []
    served: set[int] = set()
    for name, enable in opts.units:
        selected = select_enabled(registry, enable)
        own = [d for d in selected if not (d.kind == "cron" and not getattr(d, "per_replica", 0))]
        if not own:
            continue  # e.g. an `actors` unit for code without actors
        served.update(id(d) for d in selected)
        units.append(k8s.Unit(name, dapr.dns_name(opts.app_id, name), enable, selected))
    missing = [d for d in registry if id(d) not in served]
    if missing:
        names = ", ".join(f"{d.kind} {d.name} ({d.where})" for d in missing)
        raise ConfigError(
            f"--units: no unit serves {names}: add its unit ({', '.join(UNITS)}) or kind to --units"
        )
    return units


def render(registry: Registry, opts: ManifestOptions) -> dict[str, str]:
    """Relative file path -> YAML text, for everything `registry` needs on Kubernetes."""
    units = _units(registry, opts)
    files: dict[str, list[dict[str, Any]]] = {
        "configuration.yaml": [dapr.configuration(opts)],
        "resiliency.yaml": [dapr.resiliency(registry, opts)],
    }
    crons = dapr.cron_bindings(registry, opts)
    if crons:
        files["cron-bindings.yaml"] = crons
    config_stores = dapr.config_stores(registry, opts)
    if config_stores:
        files["config-stores.yaml"] = config_stores
    consumed: set[str] = set()
    for unit in units:
        docs = [k8s.deployment(unit, opts), k8s.disruption_budget(unit, opts)]
        if opts.keda and unit.registry.topics:  # an autoscaler either way: no spec.replicas
            docs.append(k8s.scaled_object(unit, opts))
            consumed.update(t.pubsub for t in unit.registry.topics)
        else:
            docs.append(k8s.hpa(unit, opts))
        files[f"{unit.deployment}.yaml"] = docs
    used = {t.pubsub for t in registry.topics} | {opts.pubsub_name}
    files["rbac.yaml"] = k8s.rbac(opts, opts.secret_names(used))
    svc = k8s.service(units, opts)
    if svc is not None:
        files["service.yaml"] = [svc]
    auths = [k8s.trigger_authentication(opts, name) for name in sorted(consumed)]
    if any(auths):
        files["keda-auth.yaml"] = [a for a in auths if a]
    subs = dapr.subscriptions(registry, opts)
    if subs:
        files["subscriptions/subscriptions.yaml"] = subs
    resources = sorted(p for p in files if "/" not in p)
    out = {path: _dump(docs) for path, docs in files.items()}
    out["kustomization.yaml"] = _dump(
        [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
            }
        ]
    )
    return dict(sorted(out.items()))


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors/aliases for repeated sub-documents."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(docs: list[dict[str, Any]]) -> str:
    parts = [
        yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)
        for doc in docs
    ]
    return HEADER + "---\n".join(parts)


def write(files: dict[str, str], out: Path) -> list[Path]:
    """Write the rendered files under `out`, removing stale rendered files; return the paths."""
    written = []
    for stale in _rendered_files(out):
        if stale.relative_to(out).as_posix() not in files:
            stale.unlink()
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def _rendered_files(out: Path) -> list[Path]:
    if not out.is_dir():
        return []
    return sorted(
        p for p in out.rglob("*.yaml") if p.is_file() and p.read_text().startswith(HEADER)
    )


def check(files: dict[str, str], out: Path) -> list[str]:
    """Differences between `files` and the rendered files under `out` (empty = up to date)."""
    problems = []
    for rel, text in files.items():
        path = out / rel
        if not path.exists():
            problems.append(f"{path}: missing (render it)")
            continue
        current = path.read_text()
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), f"{path} (committed)",
                f"{path} (rendered)", lineterm="", n=1,
            )  # fmt: skip
            problems.append(f"{path}: differs from the code\n" + "\n".join(list(diff)[:40]))
    for stale in _rendered_files(out):
        if stale.relative_to(out).as_posix() not in files:
            problems.append(f"{stale}: rendered earlier but no longer produced by the code")
    return problems


def _pairs(values: Iterable[str], what: str, sep: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        left, found, right = value.partition(sep)
        if not found or not left or not right:
            raise ConfigError(f"{what} {value!r}: expected NAME{sep}VALUE")
        pairs.append((left, right))
    return tuple(pairs)


def options_from(
    *,
    app_id: str,
    image: str | None,
    units: str | None,
    pubsub_type: str,
    pubsub: Iterable[str] = (),
    sidecar_volume: Iterable[str] = (),
    namespace: str | None = None,
    replicas: int = 2,
    max_replicas: int = 10,
    keda: bool = True,
    redis_address: str | None = None,
    kafka_brokers: str | None = None,
    components: Iterable[Path] = (),
    secrets: Iterable[str] = (),
    app_max_concurrency: int = 64,
) -> ManifestOptions:
    """`ManifestOptions` from CLI-style values (`--units api,workers`, `--pubsub NAME=kafka`)."""
    addresses: dict[str, Any] = {}
    if redis_address:
        addresses["redis_address"] = redis_address
    if kafka_brokers:
        addresses["kafka_brokers"] = kafka_brokers
    return ManifestOptions(
        app_id=app_id,
        image=image or f"{app_id}:{DEFAULT_TAG}",
        namespace=namespace or None,
        units=tuple(parse_units(units).items()) if units else (),
        pubsub_type=pubsub_type,
        pubsub_types=_pairs(pubsub, "--pubsub", "="),
        sidecar_volumes=_pairs(sidecar_volume, "--sidecar-volume", ":"),
        replicas=replicas,
        min_replicas=min(replicas, max_replicas),
        max_replicas=max_replicas,
        keda=keda,
        secrets=tuple(secrets),
        app_max_concurrency=app_max_concurrency,
        brokers=tuple(sorted(brokers_from_components(components).items())),
        **addresses,
    )
