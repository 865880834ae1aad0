"""Schema validation for the YAML we ship: Kubernetes (kubernetes-validate), Dapr and KEDA CRDs."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CRDS = Path(__file__).resolve().parent / "schemas"  # committed; schemas/README.md: source
K8S_VERSIONS = ("1.30.0", "1.37.0")  # an older cluster (Docker Desktop era) and the newest
CRD_FILES = (
    "dapr-components.yaml",
    "dapr-configuration.yaml",
    "dapr-resiliency.yaml",
    "dapr-subscription.yaml",
    "keda-scaledobjects.yaml",
    "keda-triggerauthentications.yaml",
)


def strict(schema: Any) -> Any:
    """Reject unknown fields like `kubectl apply` does (strict field validation, k8s >= 1.27).

    CRD schemas list their properties without `additionalProperties: false` (the API server
    prunes or rejects the rest); add it wherever an object lists properties and does not
    preserve unknown fields.
    """
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict openAPIV3Schema, from the CRDs in tests/ship/schemas/."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for name in CRD_FILES:
        crd = yaml.safe_load((CRDS / name).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # apiVersion/kind/metadata are checked by the API server itself.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            schemas[(f"{group}/{version['name']}", kind)] = strict(schema)
    return schemas


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document in `path`."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def validate_doc(doc: dict[str, Any], where: str) -> str:
    """Validate one resource; return the schema family used. Raises on an invalid resource."""
    import jsonschema
    import kubernetes_validate

    api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    if not api or not kind:
        raise AssertionError(f"{where}: missing apiVersion/kind")
    group = api.split("/")[0] if "/" in api else ""
    if group == "kustomize.config.k8s.io":
        return "kustomize"
    if group in ("dapr.io", "keda.sh"):
        schema = crd_schemas().get((api, kind))
        if schema is None:
            raise AssertionError(f"{where}: no CRD schema for {api} {kind} in {CRDS}")
        errors = sorted(
            jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
        )
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
            raise AssertionError(f"{where}: {api} {kind} invalid: {details}")
        return group
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.path)) if hasattr(exc, "path") else ""
            raise AssertionError(
                f"{where}: {api} {kind} invalid for Kubernetes {version} at {path}: {exc.message}"
            ) from None
    return "kubernetes"
