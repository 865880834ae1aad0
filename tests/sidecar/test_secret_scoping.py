"""The shipped secret store is scoped: only TASK_AGENT_SECRET_* variables are readable (prefix
stripped, as components-contrib's local.env does), never the rest of the environment."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.sidecar._procs import dapr_client, spawn_sidecar, stop

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


@pytest.mark.slow
def test_the_shipped_secret_store_reads_only_its_prefix(tmp_path: Path) -> None:
    env = {
        "TASK_AGENT_SECRET_OPENAI_KEY": "sk-local",
        "GITHUB_TOKEN": "must-not-leak",
        "APP_API_TOKEN": "app-token",
    }
    proc, http, grpc_port = spawn_sidecar(
        tmp_path / "s.db", env=env, resources=[COMPONENTS], app_id="task-agent-system"
    )
    try:
        with dapr_client(http, grpc_port) as client:
            bulk = client.get_bulk_secret("secretstore").secrets
            assert bulk == {"OPENAI_KEY": {"OPENAI_KEY": "sk-local"}}
            assert client.get_secret("secretstore", "OPENAI_KEY").secret == {
                "OPENAI_KEY": "sk-local"
            }
            # an unprefixed name reads TASK_AGENT_SECRET_GITHUB_TOKEN (unset), never GITHUB_TOKEN
            assert client.get_secret("secretstore", "GITHUB_TOKEN").secret == {"GITHUB_TOKEN": ""}
    finally:
        code, err = stop(proc)
    assert code == 0, err


@pytest.mark.slow
def test_local_env_never_serves_dapr_or_app_tokens(tmp_path: Path) -> None:
    store = tmp_path / "res"
    store.mkdir()
    (store / "env.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: env}\n"
        "spec: {type: secretstores.local.env, version: v1, metadata: []}\n"
    )
    env = {"APP_API_TOKEN": "app-token", "DAPR_SOMETHING": "x", "PLAIN": "ok"}
    proc, http, grpc_port = spawn_sidecar(tmp_path / "s.db", env=env, resources=[store])
    try:
        with dapr_client(http, grpc_port) as client:
            bulk = client.get_bulk_secret("env").secrets
            assert "PLAIN" in bulk and "APP_API_TOKEN" not in bulk
            assert not any(k.startswith("DAPR_") for k in bulk)
            with pytest.raises(grpc.RpcError):
                client.get_secret("env", "APP_API_TOKEN")
    finally:
        code, err = stop(proc)
    assert code == 0, err
