"""`funchost manifests -f dapr.yaml`: one Deployment per app of the run template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _manifests(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funchost.manifests", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_file_renders_one_deployment_per_app(tmp_path: Path) -> None:
    done = _manifests("-f", "dapr.yaml", "--out", str(tmp_path), "--image", "agent:1")
    assert done.returncode == 0, done.stderr
    deployments = {}
    for path in tmp_path.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                deployments[doc["metadata"]["name"]] = doc
    assert set(deployments) == {"functions", "notification-service"}
    for name, doc in deployments.items():
        pod = doc["spec"]["template"]
        assert pod["metadata"]["annotations"]["dapr.io/app-id"] == name
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "app"]
        assert container["args"] == ["serve", f"/app/{name}"]
        assert container["image"] == "agent:1"
    check = _manifests("-f", "dapr.yaml", "--out", str(tmp_path), "--image", "agent:1", "--check")
    assert check.returncode == 0 and check.stdout.count("match the code") == 2


def test_manifests_needs_a_path_or_a_run_file() -> None:
    done = _manifests()
    assert done.returncode != 0 and "-f dapr.yaml" in done.stderr
