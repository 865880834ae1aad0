"""`ctx.query_state` from a function, on state.postgresql and on the default (refusing) store."""

from __future__ import annotations

import pytest

from tests.host.conftest import SAMPLES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.funchost(
        path=str(SAMPLES / "query_ops"), resources=[str(SAMPLES / "query_ops" / "components")]
    ),
]


@pytest.fixture(autouse=True)
def _dsn(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    monkeypatch.setenv("FUNCHOST_TEST_QUERY_DSN", postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS query_ops")


async def test_query_state_pages_through_matches(funchost_runtime) -> None:
    orders = [{"id": f"o{i}", "status": "new" if i % 2 else "paid"} for i in range(1, 6)]
    assert (await funchost_runtime.invoke("orders", json=orders)).status_code == 200
    resp = await funchost_runtime.invoke("orders/by-status/new", http_method="GET")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "orders": [{"id": "o1", "status": "new"}, {"id": "o3", "status": "new"}],
        "token": "2",
    }


async def test_query_state_on_sqlite_fails_as_under_daprd(funchost_runtime) -> None:
    resp = await funchost_runtime.invoke("query-default-store", http_method="GET")
    assert resp.status_code == 200, resp.text
    assert "state store does not support querying" in resp.json()
