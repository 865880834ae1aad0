"""Actors keep their state in a `state.postgresql` store flagged `actorStateStore: "true"`."""

from __future__ import annotations

import uuid

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


async def test_actor_state_in_postgresql(harness, tmp_path, postgres_dsn) -> None:
    import psycopg

    table = "actors_" + uuid.uuid4().hex[:8]
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "pg.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pgactors\n"
        "spec:\n  type: state.postgresql\n  version: v1\n  metadata:\n"
        f'    - {{name: connectionString, value: "{postgres_dsn}"}}\n'
        f"    - {{name: tableName, value: {table}}}\n"
        '    - {name: actorStateStore, value: "true"}\n'
    )
    harness.start_sidecar(resources=resources)
    harness.start_app()
    harness.ready()
    assert await harness.proxy("a1").Increment(5) == 5
    assert await harness.proxy("a1").Increment(2) == 7
    assert await harness.proxy("a1").Get() == 7
    with psycopg.connect(postgres_dsn) as conn:  # daprd's actor key layout, as daprd writes it
        rows = conn.execute(f"SELECT key, value FROM {table}").fetchall()
    assert rows == [("actors-test||CounterActor||a1||count", 7)]
