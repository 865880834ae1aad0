"""`funchost manifests --check`: passes on the committed files, fails once a decorator changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from funchost.manifests import HEADER

from ._schemas import REPO, load_docs, validate_doc

pytestmark = pytest.mark.slow

SAMPLE = """
from funchost import cron, invoke, topic


@topic("pubsub", "orders", dead_letter_topic="orders-dlq")
async def on_order(order: dict) -> None:
    pass


@cron("*/5 * * * *", name="tick", per_replica=True)
async def tick() -> None:
    pass


@invoke("orders/{order_id}", methods=("GET",))
async def get_order(order_id: str) -> dict:
    return {"id": order_id}
"""


# Every option has a FUNCHOST_* variable: keep the caller's out of the rendering.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("FUNCHOST_")}


def _manifests(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funchost.manifests", *map(str, args)],
        env=CLEAN_ENV,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_committed_k8s_manifests_match_the_code() -> None:
    """The same command CI runs (k8s/render.sh --check) finds no drift in k8s/app*/ and
    k8s/notification-service/ (one rendered folder per app and variant)."""
    result = subprocess.run(
        ["bash", str(REPO / "k8s" / "render.sh"), "--check"],
        env=CLEAN_ENV,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("match the code") == 4


def test_check_fails_after_a_decorator_change(tmp_path: Path) -> None:
    fns = tmp_path / "fns"
    fns.mkdir()
    (fns / "orders.py").write_text(textwrap.dedent(SAMPLE))
    out = tmp_path / "k8s"
    args = [fns, "--out", out, "--app-id", "shop", "--image", "shop:1"]
    written = _manifests(*args)
    assert written.returncode == 0, written.stderr
    assert _manifests(*args, "--check").returncode == 0
    rendered = {p.relative_to(out).as_posix() for p in out.rglob("*.yaml")}
    assert {"shop.yaml", "cron-bindings.yaml", "subscriptions/subscriptions.yaml"} <= rendered
    for path in out.rglob("*.yaml"):
        for i, doc in enumerate(load_docs(path)):
            validate_doc(doc, f"{path}#{i}")

    # A decorator changes: the topic is renamed and the cron schedule changes.
    source = (fns / "orders.py").read_text()
    (fns / "orders.py").write_text(
        source.replace('"orders", dead', '"orders-v2", dead').replace("*/5 *", "*/10 *")
    )
    drift = _manifests(*args, "--check")
    assert drift.returncode == 1, drift.stdout + drift.stderr
    for name in ("subscriptions/subscriptions.yaml", "cron-bindings.yaml", "shop.yaml"):
        assert str(out / name) in drift.stderr, f"{name} not reported:\n{drift.stderr}"
    assert "orders-v2" in drift.stderr  # the diff shows what the code renders now

    # Removing a trigger leaves a stale rendered file: --check names it too.
    (fns / "orders.py").write_text(
        source.replace('@cron("*/5 * * * *", name="tick", per_replica=True)\n', "")
    )
    stale = _manifests(*args, "--check")
    assert stale.returncode == 1
    assert "cron-bindings.yaml: rendered earlier but no longer produced" in stale.stderr

    # Re-rendering fixes it (and removes the stale file).
    assert _manifests(*args).returncode == 0
    assert _manifests(*args, "--check").returncode == 0
    assert not (out / "cron-bindings.yaml").exists()


def test_check_reports_a_hand_edit(tmp_path: Path) -> None:
    out = tmp_path / "app"
    shutil.copytree(REPO / "k8s" / "app", out)
    deployment = out / "task-agent-system.yaml"
    deployment.write_text(
        deployment.read_text().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 9")
    )
    args = ["functions", "--out", out, "--app-id", "task-agent-system"]
    args += ["--sidecar-volume", "notifications:/var/run/funchost/notifications"]
    result = _manifests(*args, "--check")
    assert result.returncode == 1
    assert "task-agent-system.yaml: differs from the code" in result.stderr
    assert "-  revisionHistoryLimit: 9" in result.stderr
    assert "+  revisionHistoryLimit: 5" in result.stderr


def test_rendered_files_carry_the_header_and_sorted_keys() -> None:
    for path in (REPO / "k8s" / "app").rglob("*.yaml"):
        text = path.read_text()
        assert text.startswith(HEADER), path
        for doc in yaml.safe_load_all(text):
            assert list(doc) == sorted(doc), f"{path}: keys not sorted"
