"""Group commit: completions share one transaction; a failing one rolls back alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from funchost.sidecar.store import Store
from funchost.sidecar.workflows.group_commit import GroupCommit


async def test_one_transaction_and_a_failure_rolls_back_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db")
    store.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    group = GroupCommit(store)
    commits: list[int] = []
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)

    def apply(v: int) -> None:
        with store.tx() as conn:  # joins the group's transaction
            conn.execute("INSERT INTO t (v) VALUES (?)", (v,))
            if v == 2:
                raise ValueError("bad completion")

    results = await asyncio.gather(
        *(group.submit(apply, v) for v in (1, 2, 3)), return_exceptions=True
    )
    assert [type(r) for r in results] == [type(None), ValueError, type(None)]
    assert [r["v"] for r in store.query("SELECT v FROM t ORDER BY v")] == [1, 3]
    assert len(commits) == 1  # one COMMIT for the three completions
    assert not group
    store.close()


async def test_answers_only_after_commit(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db")
    store.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    group = GroupCommit(store, in_flight=lambda: 100)  # busy: the window applies
    reader = Store(tmp_path / "g.db")

    def apply(v: int) -> None:
        with store.tx() as conn:
            conn.execute("INSERT INTO t (v) VALUES (?)", (v,))

    await group.submit(apply, 7)
    assert reader.query_one("SELECT v FROM t")["v"] == 7  # visible to another connection
    reader.close()
    store.close()
