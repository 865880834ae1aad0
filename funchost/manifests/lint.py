"""A manifest lint beyond schemas: what a schema accepts but a cluster with Dapr and KEDA gets
wrong. Each finding names the rule, the file and resource, and the fix.

- `keda-redis-lag`: a redis-streams trigger scales on `pendingEntriesCount` (delivered,
  unacknowledged) instead of the backlog (`lagCount`, XINFO GROUPS lag);
- `keda-kafka-lag`: a kafka trigger without a consumer group / `lagThreshold`;
- `replicas-with-autoscaler`: a Deployment sets `spec.replicas` while an HPA or ScaledObject owns
  the count (every apply resets it);
- `mtls-in-app-configuration`: `mtls` in an app's Configuration (daprd ignores it there; it
  belongs to the control plane's `daprsystem`);
- `component-scopes`: a Dapr Component without `scopes` (every app id in the namespace loads it);
- `secret-role-unrestricted`: a Role reading every Secret (no `resourceNames`, or list/watch);
- `namespace-default`: namespace `default` baked in (a per-environment parameter);
- `image-tag`: an image without a tag or with `:latest`;
- `daprd-json-logs`: a daprd sidecar without `dapr.io/log-as-json: "true"`;
- `daprd-gomemlimit`: a daprd memory limit without `GOMEMLIMIT` in `dapr.io/env`;
- `daprd-app-max-concurrency`: no `dapr.io/app-max-concurrency`;
- `daprd-graceful-shutdown`: `dapr.io/graceful-shutdown-seconds` missing or not below
  `terminationGracePeriodSeconds`.

`python -m funchost.manifests.lint PATH...` (files or folders of YAML, or `-` for stdin, e.g. the
output of `kubectl kustomize`) prints one line per finding and exits 1 when there is any.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

REDIS_STREAM_SCALERS = ("redis-streams", "redis-cluster-streams", "redis-sentinel-streams")
CONTROL_PLANE_CONFIG = "daprsystem"


@dataclass(frozen=True)
class Finding:
    """One problem: the rule, the resource (and file) it is in, what to do."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.rule}] {self.message}"


def _name(doc: Doc) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind', '?')}/{meta.get('name', '?')}"


def _workloads(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(Deployment-like document, its pod template)."""
    for doc in docs:
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            yield doc, ((doc.get("spec") or {}).get("template") or {})


def _autoscaled(docs: list[Doc]) -> set[tuple[str, str]]:
    """(kind, name) of the workloads an HPA or ScaledObject targets."""
    out = set()
    for doc in docs:
        if doc.get("kind") in ("HorizontalPodAutoscaler", "ScaledObject"):
            ref = (doc.get("spec") or {}).get("scaleTargetRef") or {}
            out.add((str(ref.get("kind") or "Deployment"), str(ref.get("name"))))
    return out


def _keda(doc: Doc, where: str) -> Iterator[Finding]:
    for trigger in (doc.get("spec") or {}).get("triggers") or []:
        kind = trigger.get("type")
        meta = trigger.get("metadata") or {}
        label = f"{where} trigger {trigger.get('name') or kind}"
        lag = str(meta.get("lagCount") or "0")
        if kind in REDIS_STREAM_SCALERS and meta.get("consumerGroup") and lag == "0":
            yield Finding(
                "keda-redis-lag",
                label,
                "scales on pendingEntriesCount (delivered but unacknowledged entries), not "
                "on the backlog: set lagCount (XINFO GROUPS lag, Redis >= 7) and drop "
                "pendingEntriesCount",
            )
        if kind == "kafka" and (not meta.get("consumerGroup") or not meta.get("lagThreshold")):
            yield Finding(
                "keda-kafka-lag",
                label,
                "set consumerGroup and lagThreshold so KEDA scales on the consumer group's lag",
            )


def _role(doc: Doc, where: str) -> Iterator[Finding]:
    for rule in doc.get("rules") or []:
        resources = rule.get("resources") or []
        if "secrets" not in resources and "*" not in resources:
            continue
        verbs = set(rule.get("verbs") or [])
        if not rule.get("resourceNames") or verbs & {"list", "watch", "*"}:
            yield Finding(
                "secret-role-unrestricted",
                where,
                "reads every Secret of the namespace: grant only `get` with resourceNames "
                "listing the Secrets the app needs (`funchost manifests --secret NAME`)",
            )


def _daprd(doc: Doc, template: Doc, where: str) -> Iterator[Finding]:
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get("dapr.io/enabled", "")).lower() != "true":
        return
    if str(annotations.get("dapr.io/log-as-json", "")).lower() != "true":
        yield Finding(
            "daprd-json-logs",
            where,
            'daprd logs plain text: add the annotation dapr.io/log-as-json: "true"',
        )
    if annotations.get("dapr.io/sidecar-memory-limit") and "GOMEMLIMIT=" not in str(
        annotations.get("dapr.io/env", "")
    ):
        yield Finding(
            "daprd-gomemlimit",
            where,
            "daprd has a memory limit but no GOMEMLIMIT: add dapr.io/env: GOMEMLIMIT=<90% of "
            "dapr.io/sidecar-memory-limit> (e.g. 230MiB for 256Mi) so Go's GC acts before OOM",
        )
    if not annotations.get("dapr.io/app-max-concurrency"):
        yield Finding(
            "daprd-app-max-concurrency",
            where,
            "no dapr.io/app-max-concurrency: daprd sends the app unlimited concurrent requests",
        )
    grace = (template.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    shutdown = annotations.get("dapr.io/graceful-shutdown-seconds")
    try:
        ok = shutdown is not None and 0 < int(shutdown) < int(grace)
    except ValueError:
        ok = False
    if not ok:
        yield Finding(
            "daprd-graceful-shutdown",
            where,
            f"dapr.io/graceful-shutdown-seconds ({shutdown or 'unset: 5s'}) must be set and "
            f"below terminationGracePeriodSeconds ({grace}), so daprd drains before SIGKILL",
        )


def _images(template: Doc, where: str) -> Iterator[Finding]:
    spec = template.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        image = str(container.get("image") or "")
        if "@" in image:
            continue
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        if not tag or tag == "latest":
            yield Finding(
                "image-tag",
                f"{where} container {container.get('name')}",
                f"image {image!r} has no version tag: set one (kustomize `images: newTag`, "
                "`funchost manifests --image NAME:TAG`)",
            )


def lint(docs: Iterable[Doc], files: dict[int, str] | None = None) -> list[Finding]:
    """Every finding in `docs` (Kubernetes, Dapr and KEDA resources); `files`: id(doc) -> file."""
    items = [d for d in docs if isinstance(d, dict) and d.get("kind")]
    files = files or {}

    def at(doc: Doc) -> str:
        file = files.get(id(doc))
        return f"{file}: {_name(doc)}" if file else _name(doc)

    findings: list[Finding] = []
    owned = _autoscaled(items)
    for doc in items:
        where = at(doc)
        kind = doc.get("kind")
        meta = doc.get("metadata") or {}
        if meta.get("namespace") == "default":
            findings.append(
                Finding(
                    "namespace-default",
                    where,
                    "namespace `default` is baked in: leave it out and set it per environment "
                    "(kustomize `namespace:`, `kubectl -n`)",
                )
            )
        if kind == "ScaledObject":
            findings.extend(_keda(doc, where))
        elif kind in ("Role", "ClusterRole"):
            findings.extend(_role(doc, where))
        elif kind == "Configuration" and str(doc.get("apiVersion", "")).startswith("dapr.io/"):
            if (doc.get("spec") or {}).get("mtls") and meta.get("name") != CONTROL_PLANE_CONFIG:
                findings.append(
                    Finding(
                        "mtls-in-app-configuration",
                        where,
                        "daprd ignores `mtls` in an app's Configuration: set it in the control "
                        f"plane's `{CONTROL_PLANE_CONFIG}` Configuration (dapr-system) instead",
                    )
                )
        elif (
            kind == "Component"
            and str(doc.get("apiVersion", "")).startswith("dapr.io/")
            and not doc.get("scopes")
        ):
            findings.append(
                Finding(
                    "component-scopes",
                    where,
                    "no `scopes`: every app id in the namespace loads it; list the app ids "
                    "that use it",
                )
            )
    for doc, template in _workloads(items):
        where = at(doc)
        target = (str(doc.get("kind")), str((doc.get("metadata") or {}).get("name")))
        if "replicas" in (doc.get("spec") or {}) and target in owned:
            findings.append(
                Finding(
                    "replicas-with-autoscaler",
                    where,
                    "spec.replicas is set while an HPA/ScaledObject owns the count (each apply "
                    "resets it): remove spec.replicas",
                )
            )
        findings.extend(_daprd(doc, template, where))
        findings.extend(_images(template, where))
    return findings


def load(paths: Iterable[Path | str]) -> list[tuple[str, list[Doc]]]:
    """(file, documents) of every YAML file under `paths` (`-` = stdin); kustomizations skipped."""
    out: list[tuple[str, list[Doc]]] = []
    for raw in paths:
        if str(raw) == "-":
            out.append(("<stdin>", [d for d in yaml.safe_load_all(sys.stdin) if d]))
            continue
        path = Path(raw)
        files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            if file.name.startswith("kustomization."):
                continue
            out.append((str(file), [d for d in yaml.safe_load_all(file.read_text()) if d]))
    return out


def lint_paths(paths: Iterable[Path | str]) -> list[Finding]:
    """Lint files and folders together (an autoscaler may sit in another file than its target)."""
    loaded = load(paths)
    files = {id(d): file for file, docs in loaded for d in docs}
    return lint([d for _file, docs in loaded for d in docs], files)


def main(argv: list[str] | None = None) -> int:
    """`python -m funchost.manifests.lint PATH...`: exit 1 when anything is found."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m funchost.manifests.lint PATH... (or - for stdin)", file=sys.stderr)
        return 2
    findings = lint_paths(args)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
