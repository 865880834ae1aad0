"""The manifest lint (funchost.manifests.lint): clean on what we ship and render, and failing on a
manifest with each problem of issue 17 reintroduced (one case per problem). The kustomize
overlays are rendered with `kustomize build` / `kubectl kustomize` when one is installed."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from funchost.discovery import discover
from funchost.manifests import ManifestOptions, render
from funchost.manifests.lint import lint, lint_paths

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
SAMPLE = REPO / "tests" / "functions" / "all_kinds"

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def rendered() -> list[Doc]:
    files = render(discover(SAMPLE, plugins=False), ManifestOptions(app_id="shop", image="shop:1"))
    return [d for text in files.values() for d in yaml.safe_load_all(text) if d.get("metadata")]


def _find(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    return next(
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    )


def _annotations(docs: list[Doc]) -> dict[str, str]:
    return _find(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]


def _redis_trigger(docs: list[Doc]) -> Doc:
    scaled = _find(docs, "ScaledObject")
    return next(t for t in scaled["spec"]["triggers"] if t["type"] == "redis-streams")


def _pending_entries(docs: list[Doc]) -> None:
    meta = _redis_trigger(docs)["metadata"]
    meta["pendingEntriesCount"] = meta.pop("lagCount")


def _kafka_without_lag(docs: list[Doc]) -> None:
    scaled = _find(docs, "ScaledObject")
    scaled["spec"]["triggers"].append(
        {"type": "kafka", "metadata": {"bootstrapServers": "k:9092", "topic": "t"}}
    )


def _replicas(docs: list[Doc]) -> None:
    _find(docs, "Deployment")["spec"]["replicas"] = 2


def _mtls(docs: list[Doc]) -> None:
    _find(docs, "Configuration")["spec"]["mtls"] = {"enabled": True}


def _unscoped(docs: list[Doc]) -> None:
    del _find(docs, "Component")["scopes"]


def _all_secrets(docs: list[Doc]) -> None:
    role = _find(docs, "Role")
    role["rules"] = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]


def _default_namespace(docs: list[Doc]) -> None:
    _find(docs, "Service")["metadata"]["namespace"] = "default"


def _latest(docs: list[Doc]) -> None:
    _find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] = "shop:latest"


def _plain_logs(docs: list[Doc]) -> None:
    del _annotations(docs)["dapr.io/log-as-json"]


def _no_gomemlimit(docs: list[Doc]) -> None:
    del _annotations(docs)["dapr.io/env"]


def _no_concurrency(docs: list[Doc]) -> None:
    del _annotations(docs)["dapr.io/app-max-concurrency"]


def _shutdown_after_kill(docs: list[Doc]) -> None:
    _annotations(docs)["dapr.io/graceful-shutdown-seconds"] = "60"


PROBLEMS: list[tuple[str, Callable[[list[Doc]], None]]] = [
    ("keda-redis-lag", _pending_entries),
    ("keda-kafka-lag", _kafka_without_lag),
    ("replicas-with-autoscaler", _replicas),
    ("mtls-in-app-configuration", _mtls),
    ("component-scopes", _unscoped),
    ("secret-role-unrestricted", _all_secrets),
    ("namespace-default", _default_namespace),
    ("image-tag", _latest),
    ("daprd-json-logs", _plain_logs),
    ("daprd-gomemlimit", _no_gomemlimit),
    ("daprd-app-max-concurrency", _no_concurrency),
    ("daprd-graceful-shutdown", _shutdown_after_kill),
]


def test_what_the_renderer_produces_is_clean(rendered: list[Doc]) -> None:
    assert lint(rendered) == []


@pytest.mark.parametrize(("rule", "reintroduce"), PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_each_problem_is_caught(
    rendered: list[Doc], rule: str, reintroduce: Callable[[list[Doc]], None]
) -> None:
    docs = copy.deepcopy(rendered)
    reintroduce(docs)
    findings = lint(docs)
    assert [f.rule for f in findings] == [rule], findings
    assert "Deployment" in str(findings[0]) or "/" in findings[0].where


def test_the_committed_tree_is_clean() -> None:
    folders = [K8S / name for name in ("app", "app-kafka", "app-units", "components")]
    assert lint_paths(folders) == []


def test_the_cli_exits_1_naming_file_and_rule(tmp_path: Path, rendered: list[Doc]) -> None:
    docs = copy.deepcopy(rendered)
    _mtls(docs)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump_all(docs))
    from funchost.manifests.lint import main

    assert main([str(tmp_path)]) == 1
    assert main([str(K8S / "app")]) == 0


def _kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.parametrize(
    ("overlay", "namespace", "image"),
    [
        ("dev", "task-agent-dev", "task-agent-system:0.1.0-dev"),
        ("prod", "task-agent", "registry.example.com/task-agent-system:0.1.0"),
    ],
)
def test_overlays_render_per_environment_and_lint_clean(
    overlay: str, namespace: str, image: str
) -> None:
    command = _kustomize()
    if command is None:
        pytest.skip("neither kustomize nor kubectl is installed (.ci/run installs kustomize)")
    out = subprocess.run(
        [*command, str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert lint(docs) == []
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {namespace}
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert deployments and all("replicas" not in d["spec"] for d in deployments)
    images = {c["image"] for d in deployments for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {image}
    binding = _find(docs, "RoleBinding")
    assert binding["subjects"][0]["namespace"] == namespace
    if overlay == "prod":  # per-unit settings
        workers = _find(docs, "Deployment", "task-agent-system-workers")
        assert workers["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
            "cpu": "2",
            "memory": "1Gi",
        }
        assert (
            _find(docs, "ScaledObject", "task-agent-system-workers")["spec"]["maxReplicaCount"]
            == 30
        )
        assert (
            _find(docs, "HorizontalPodAutoscaler", "task-agent-system-api")["spec"]["minReplicas"]
            == 3
        )
