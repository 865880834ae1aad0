"""Every YAML we ship validates: Kubernetes kinds (OpenAPI), Dapr and KEDA kinds (their CRDs)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ._schemas import REPO, load_docs, validate_doc

pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (test extra)")
pytest.importorskip("jsonschema", reason="pip install jsonschema (test extra)")

YAML_FILES = sorted(
    p.relative_to(REPO).as_posix()
    for folder in ("k8s", "components", "bindings")
    for p in (REPO / folder).rglob("*.y*ml")
    if p.is_file()
)


def test_there_is_something_to_validate() -> None:
    kinds = {d["kind"] for f in YAML_FILES for d in load_docs(REPO / f)}
    expected = {"Deployment", "Service", "Component", "Resiliency", "Configuration", "ScaledObject"}
    assert expected <= kinds, f"missing kinds: {expected - kinds}"


@pytest.mark.parametrize("rel", YAML_FILES)
def test_yaml_file_validates(rel: str) -> None:
    docs = load_docs(REPO / rel)
    assert docs, f"{rel}: no YAML documents"
    for i, doc in enumerate(docs):
        validate_doc(doc, f"{rel}#{i}")


@pytest.mark.parametrize("rel", [f for f in YAML_FILES if f.endswith("kustomization.yaml")])
def test_kustomization_resources_exist(rel: str) -> None:
    path = REPO / rel
    (doc,) = load_docs(path)
    for resource in doc["resources"]:
        target = (path.parent / resource).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), (
            f"{rel}: resource {resource!r} is neither a file nor a kustomization folder"
        )


def _first(kind: str) -> dict:
    for rel in YAML_FILES:
        for doc in load_docs(REPO / rel):
            if doc["kind"] == kind:
                return copy.deepcopy(doc)
    raise AssertionError(f"no {kind} shipped")


@pytest.mark.parametrize(
    ("kind", "break_it"),
    [
        ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(imagge="x")),
        ("Deployment", lambda d: d["spec"].update(replicas="two")),
        ("Component", lambda d: d["spec"].pop("metadata")),
        ("Component", lambda d: d["spec"].update(typo=1)),
        ("Resiliency", lambda d: d["spec"]["policies"].update(retrys={})),
        ("Configuration", lambda d: d["spec"]["tracing"].pop("samplingRate")),  # required
        ("ScaledObject", lambda d: d["spec"].pop("triggers")),
        ("TriggerAuthentication", lambda d: d["spec"]["secretTargetRef"][0].pop("key")),
        ("Subscription", lambda d: d["spec"].pop("routes")),
    ],
)
def test_validator_rejects_broken_resources(kind: str, break_it) -> None:
    doc = _first(kind)
    validate_doc(doc, kind)  # the shipped one passes...
    break_it(doc)
    with pytest.raises(AssertionError):  # ...and the broken copy does not
        validate_doc(doc, f"broken {kind}")


def test_redis_state_store_is_the_actor_store_and_secrets_use_secret_key_ref() -> None:
    rels = [rel for rel in YAML_FILES if rel.startswith("k8s/components")]
    docs = [d for rel in rels for d in load_docs(REPO / rel) if d["kind"] == "Component"]
    components = {(d["metadata"]["name"], d["spec"]["type"]): d for d in docs}
    state = components[("statestore", "state.redis")]
    meta = {m["name"]: m for m in state["spec"]["metadata"]}
    assert meta["actorStateStore"]["value"] == "true"
    assert ("pubsub", "pubsub.redis") in components and ("pubsub", "pubsub.kafka") in components
    assert ("secretstore", "secretstores.kubernetes") in components
    for doc in components.values():
        for item in doc["spec"]["metadata"]:
            if any(word in item["name"].lower() for word in ("password", "secret", "token")):
                assert "secretKeyRef" in item and "value" not in item, (
                    f"{doc['metadata']['name']}: {item['name']} must come from a secretKeyRef"
                )


def test_default_kustomization_applies_redis_not_kafka() -> None:
    (doc,) = load_docs(REPO / "k8s" / "kustomization.yaml")
    assert "components/redis" in doc["resources"]
    assert not any("kafka" in r for r in doc["resources"])
    assert yaml.safe_load((REPO / "k8s" / "kafka" / "kustomization.yaml").read_text())


def test_yaml_files_cover_the_rendered_tree() -> None:
    assert any(f.startswith("k8s/app/") for f in YAML_FILES), "k8s/app is not rendered"
    assert Path(REPO / "k8s" / "README.md").is_file()
